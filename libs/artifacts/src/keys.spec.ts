import { generateIdentity, identityToRecipient } from 'age-encryption';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { decryptStream, DecryptionError, encryptStream } from './encryption.js';
import { identitiesFor, KeyFileError, parseAgeKey, parseIdentities } from './keys.js';

describe('age key files', () => {
  it('the writer encrypts to every key of a file; a reader decrypts with the identity the backup names', async () => {
    const identity = await generateIdentity();
    const other = await identityToRecipient(await generateIdentity());
    const file = `# backup keys\n${identity}\n\n${other}\n`;
    const key = await parseAgeKey('keys.age', file);
    expect(key).toEqual({ file: 'keys.age', recipients: [await identityToRecipient(identity), other], identities: [identity] });
    const identities = await parseIdentities('keys.age', file);
    expect(identities).toEqual([{ file: 'keys.age', identity, recipient: await identityToRecipient(identity) }]);
    expect(identitiesFor(identities, [other])).toEqual([]);

    const encrypted = await encryptStream(Readable.from([Buffer.from('the artifact')]), key);
    const plain = await decryptStream(encrypted, identitiesFor(identities, key.recipients), 'backup b1');
    expect(await text(plain)).toBe('the artifact');
  });

  it('names the first bad key with its position', async () => {
    await expect(parseAgeKey('k', '# c\nage1nope\nfoo')).rejects.toThrow(/^k: key 1 is not a valid age recipient/);
    await expect(parseIdentities('k', 'AGE-SECRET-KEY-1NOPE\nfoo')).rejects.toThrow(/^k: key 1 is not a valid age identity/);
    await expect(parseIdentities('k', 'foo')).rejects.toThrow(new KeyFileError('k: key 1 is neither an age identity (AGE-SECRET-KEY-1…) nor a recipient (age1…)'));
    await expect(parseAgeKey('k', '# only a comment')).rejects.toThrow('k holds no age identity or recipient');
  });

  it('refuses to decrypt without an identity, or with the wrong one, saying what it was decrypting', async () => {
    const key = await parseAgeKey('k', await generateIdentity());
    await expect(decryptStream(Readable.from([Buffer.from('x')]), [], 'backup b1')).rejects.toThrow(/^backup b1 is encrypted \(age\) and no identity was given/);
    const encrypted = await encryptStream(Readable.from([Buffer.from('x')]), key);
    await expect(decryptStream(encrypted, [await generateIdentity()], 'backup b1')).rejects.toThrow(DecryptionError);
  });
});

import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createPublicKey, KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { ContinuityPublisher } from '@continuity/contracts';
import { PUBLISHER, SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { KEYS_LOCK } from '../database/advisory-locks.js';
import { attestKey, keyIdOf, LedgerKey, publicKeyPem, SignedTreeHead, signTreeHead, TreeHead } from '@continuity/contracts/ledger';
import { loadOrCreateSigningKey } from './signing-key-file.js';

const toKey = (row: Record<string, unknown>): LedgerKey => ({
  keyId: String(row.key_id),
  publicKeyPem: (row.public_key_pem as string | null) ?? null,
  firstUsedAt: new Date(row.first_used_at as string).toISOString(),
  introducedAtTreeSize: Number(row.introduced_at_tree_size),
  previousKeyId: (row.previous_key_id as string | null) ?? null,
  attestation: (row.attestation as string | null) ?? null,
  legacyThroughTreeSize: row.legacy_through_tree_size === null ? null : Number(row.legacy_through_tree_size),
});

interface KeyAdded {
  previousKeyId: string | null;
  treeSize: number;
  attestation: string | null;
}

/**
 * This instance's Ed25519 signing key, and the ledger's history of every key that signed it.
 *
 * On start the instance's key joins the history if it is not there yet — a rotation, a lost key
 * file, a second installation against the same database — and that change is reported once (one
 * log line, one `AuditSigningKeyChanged`), by whichever instance added the key. It is never a
 * tamper finding: heads name their key, and each verifies against its own. The private key never
 * leaves this process.
 */
@Injectable()
export class SigningKeysService {
  private readonly logger = new Logger(SigningKeysService.name);
  private readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
  readonly keyId: string;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
  ) {
    const { privateKey, created } = loadOrCreateSigningKey(config.AUDIT_SIGNING_KEY, config.AUDIT_SIGNING_KEY_FILE);
    this.privateKey = privateKey;
    this.publicKeyPem = publicKeyPem(privateKey);
    this.keyId = keyIdOf(createPublicKey(privateKey));
    if (created) this.logger.warn(`generated a new Ed25519 signing key in ${config.AUDIT_SIGNING_KEY_FILE} (key id ${this.keyId}); back it up`);
  }

  sign(head: TreeHead): SignedTreeHead {
    return signTreeHead(head, this.privateKey);
  }

  async all(): Promise<LedgerKey[]> {
    return (await this.dataSource.query('select * from audit.signing_keys order by first_used_at, introduced_at_tree_size, key_id')).map(toKey);
  }

  /**
   * Adds this instance's key to the history unless it is there; reports a key change once. Until
   * this has succeeded the instance must not sign: its heads would name a key the ledger lacks.
   */
  async register(): Promise<void> {
    const added = await this.dataSource.transaction(async (tx): Promise<KeyAdded | null> => {
      await tx.query('select pg_advisory_xact_lock($1)', [KEYS_LOCK]);
      const [mine] = await tx.query('select public_key_pem from audit.signing_keys where key_id = $1', [this.keyId]);
      if (mine) {
        if (mine.public_key_pem === null) {
          // A key that signed heads before the history existed: its heads now verify for real.
          await tx.query('update audit.signing_keys set public_key_pem = $2 where key_id = $1', [this.keyId, this.publicKeyPem]);
          this.logger.log(`recorded the public key of signing key ${this.keyId}, which signed heads before the ledger kept its keys`);
        }
        return null;
      }
      const [previous] = await tx.query(
        'select key_id from audit.signing_keys order by first_used_at desc, introduced_at_tree_size desc, key_id limit 1',
      );
      const [size] = await tx.query('select coalesce(max(log_index) + 1, 0) as n from audit.log_entries');
      const attestation = previous ? this.attestFor(String(previous.key_id)) : null;
      await tx.query(
        `insert into audit.signing_keys (key_id, public_key_pem, introduced_at_tree_size, previous_key_id, attestation)
         values ($1, $2, $3, $4, $5)`,
        [this.keyId, this.publicKeyPem, Number(size.n), previous?.key_id ?? null, attestation],
      );
      const change = { previousKeyId: previous ? String(previous.key_id) : null, treeSize: Number(size.n), attestation };
      // Published before the commit: if NATS refuses, the key is not recorded and the next attempt
      // reports it; published after, a failure would leave a key change nobody was told about.
      if (change.previousKeyId !== null) {
        await this.publisher.publish('AuditSigningKeyChanged', { resource: 'audit-ledger', data: { keyId: this.keyId, publicKeyPem: this.publicKeyPem, ...change } });
      }
      return change;
    });
    if (!added) return;
    if (added.previousKeyId === null) {
      // The ledger's first key: nothing changed, so nothing to report beyond this line.
      this.logger.log(`the ledger signs with key ${this.keyId}`);
      return;
    }
    this.logger.warn(
      `audit signing key changed: the ledger now also trusts key ${this.keyId} (previous key ${added.previousKeyId}, at ${added.treeSize} entries); ` +
        (added.attestation
          ? 'attested: the previous key signed the new one'
          : 'unattested: the previous key is not available to this instance, so confirm the new public key out of band (GET /audit/public-keys)'),
    );
  }

  /** The previous key's signature over this key, when that key is configured and is the previous one. */
  private attestFor(previousKeyId: string): string | null {
    const file = this.config.AUDIT_PREVIOUS_SIGNING_KEY_FILE;
    if (!file || !existsSync(file)) return null;
    const { privateKey } = loadOrCreateSigningKey(undefined, file, 'AUDIT_PREVIOUS_SIGNING_KEY_FILE');
    if (keyIdOf(createPublicKey(privateKey)) !== previousKeyId) {
      this.logger.warn(`AUDIT_PREVIOUS_SIGNING_KEY_FILE holds key ${keyIdOf(createPublicKey(privateKey))}, not the ledger's previous key ${previousKeyId}: the change stays unattested`);
      return null;
    }
    return attestKey(this.publicKeyPem, privateKey);
  }
}

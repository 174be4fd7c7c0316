import { Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { Public, READERS, Roles } from '../api/roles.js';
import { nonNegativeInt, parseQuery, positiveInt, RangeTooLargeError } from '../api/query.js';
import { SigningKeysService } from './signing-keys.service.js';
import { NoSignedHeadError, TreeHeadsService } from './tree-heads.service.js';

/** Heads per page of `GET /audit/tree-heads`: a head is signed every few seconds while the ledger grows, so there can be millions. */
export const TREE_HEADS_PAGE_MAX = 1_000;

const headsQuery = z.object({ size: positiveInt.optional(), after: nonNegativeInt.default(0), limit: positiveInt.optional() });

@AuditHttpController()
export class TreeHeadsHttpController {
  constructor(
    private readonly heads: TreeHeadsService,
    private readonly keys: SigningKeysService,
  ) {}

  @Get('public-key')
  @Public()
  @ApiOperation({ summary: "This instance's Ed25519 public key, and every key the ledger has used (open to anyone)" })
  async publicKey() {
    return { algorithm: 'Ed25519', keyId: this.keys.keyId, publicKeyPem: this.keys.publicKeyPem, keys: await this.keys.all() };
  }

  @Get('public-keys')
  @Public()
  @ApiOperation({ summary: 'Every Ed25519 key the ledger has used; each signed head names its own (open to anyone)' })
  async publicKeys() {
    return { algorithm: 'Ed25519', currentKeyId: this.keys.keyId, keys: await this.keys.all() };
  }

  @Get('tree-heads/latest')
  @Roles(...READERS)
  @ApiOperation({ summary: 'The latest signed tree head' })
  async latestHead() {
    const head = await this.heads.latest();
    if (!head) throw new NoSignedHeadError('no tree head has been signed yet (the ledger is empty)');
    return head;
  }

  @Get('tree-heads')
  @Roles(...READERS)
  @ApiOperation({ summary: `Signed tree heads, oldest first, in pages of at most ${TREE_HEADS_PAGE_MAX} (?after=<tree size>&limit=; \`next\` is the following page's after); with ?size=, the first head covering at least that many entries` })
  async headsBySize(@Query() query: unknown) {
    const { size, after, limit = TREE_HEADS_PAGE_MAX } = parseQuery(headsQuery, query);
    if (limit > TREE_HEADS_PAGE_MAX) throw new RangeTooLargeError(`${limit} tree heads`, TREE_HEADS_PAGE_MAX, 'heads', 'page with ?after= and the `next` cursor');
    if (size === undefined) {
      const heads = await this.heads.page(after, limit);
      return { heads, next: heads.length === limit ? { after: heads[heads.length - 1]!.treeSize } : null };
    }
    const head = await this.heads.atOrAfter(size);
    if (!head) throw new NoSignedHeadError(`no signed head covers ${size} entries yet`);
    return head;
  }

  @Post('tree-heads')
  @HttpCode(201)
  @Roles('operator')
  @ApiOperation({ summary: 'Sign the current head now (operator)' })
  async signNow() {
    return (await this.heads.signNow()) ?? { treeSize: 0, message: 'the ledger is empty: nothing to sign' };
  }
}

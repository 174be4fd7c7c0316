import { Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { Public, READERS, Roles } from '../api/roles.js';
import { parseQuery, positiveInt } from '../api/query.js';
import { SigningKeysService } from './signing-keys.service.js';
import { NoSignedHeadError, TreeHeadsService } from './tree-heads.service.js';

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
  @ApiOperation({ summary: 'Signed tree heads; with ?size=, the first head covering at least that many entries' })
  async headsBySize(@Query() query: unknown) {
    const { size } = parseQuery(z.object({ size: positiveInt.optional() }), query);
    if (size === undefined) return { heads: await this.heads.all() };
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

import { Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { Public, READERS, Roles } from '../api/roles.js';
import { parseQuery, positiveInt } from '../api/query.js';
import { NoSignedHeadError, TreeHeadsService } from './tree-heads.service.js';

@AuditHttpController()
export class TreeHeadsHttpController {
  constructor(private readonly heads: TreeHeadsService) {}

  @Get('public-key')
  @Public()
  @ApiOperation({ summary: 'The Ed25519 public key that verifies every signed tree head (open to anyone)' })
  publicKey() {
    return { algorithm: 'Ed25519', keyId: this.heads.keyId, publicKeyPem: this.heads.publicKeyPem };
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

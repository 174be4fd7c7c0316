import { Body, Controller, Get, HttpCode, INestApplication, Module, Post } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { baseEnvSchema, loadConfig } from '../src/config.js';
import { AccessGuard, type Caller, CurrentCaller, Public, Roles } from '../src/http/access.guard.js';
import { Authenticator } from '../src/http/authenticator.js';
import { HttpErrorFilter } from '../src/http/error.filter.js';
import { acceptJsonBodiesOnly } from '../src/http/json-bodies.js';
import { SERVICE_CONFIG } from '../src/tokens.js';
import { bearer, TEST_CONTINUITY_TOKENS, TEST_TOKENS } from '../src/testing.js';

const written: unknown[] = [];

@Controller()
class ThingsController {
  @Get('open')
  @Public()
  open() {
    return { open: true };
  }

  /** No decorator: a read needs a viewer. */
  @Get('things')
  list(@CurrentCaller() caller: Caller) {
    return { things: written, caller };
  }

  /** No decorator: a write needs an operator. */
  @Post('things')
  @HttpCode(201)
  write(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    written.push(body);
    return { written: body, by: caller.name };
  }

  /** A decorator that names too weak a role cannot open a write. */
  @Post('sloppy')
  @Roles('viewer')
  sloppy(@Body() body: unknown) {
    written.push(body);
    return {};
  }

  @Get('ledger')
  @Roles('auditor')
  ledger() {
    return { ledger: [] };
  }
}

/** The guard, the filter and the body rules exactly as `createServiceApp` sets them up, without NATS. */
const startApp = async (env: Record<string, string>) => {
  const config = loadConfig(baseEnvSchema(0), env);
  @Module({ controllers: [ThingsController], providers: [{ provide: SERVICE_CONFIG, useValue: config }, Authenticator, { provide: APP_GUARD, useClass: AccessGuard }] })
  class Root {}
  const app = await NestFactory.create<NestExpressApplication>(Root, { logger: false, bodyParser: false });
  acceptJsonBodiesOnly(app);
  app.useGlobalFilters(new HttpErrorFilter());
  await app.listen(0, '127.0.0.1');
  return { app: app as INestApplication, base: `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}` };
};

const call = async (base: string, path: string, init: RequestInit = {}) => {
  const res = await fetch(base + path, init);
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
};
const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

describe('HTTP access: one guard, deny by default, JSON bodies only', () => {
  const apps: INestApplication[] = [];
  let base: string;

  beforeAll(async () => {
    const started = await startApp({ CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS });
    apps.push(started.app);
    base = started.base;
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
  });
  beforeEach(() => (written.length = 0));

  it('answers 401 without a token or with an unknown one, 403 for the wrong role, 200 for the right one', async () => {
    expect(await call(base, '/things')).toMatchObject({ status: 401, body: { code: 'AUTH.TOKEN_MISSING' } });
    const unknown = await call(base, '/things', { headers: { authorization: `Bearer ${TEST_TOKENS.viewer}x` } });
    expect(unknown).toMatchObject({ status: 401, body: { code: 'AUTH.TOKEN_UNKNOWN', message: 'unknown bearer token' } });
    expect(unknown.headers.get('www-authenticate')).toBe('Bearer');
    expect(await call(base, '/things', { headers: { authorization: 'Basic dXNlcjpwYXNz' } })).toMatchObject({ status: 401, body: { code: 'AUTH.TOKEN_MISSING' } });
    expect(await call(base, '/things', json({ a: 1 }, bearer('viewer')))).toMatchObject({ status: 403, body: { code: 'AUTH.ROLE_FORBIDDEN', message: 'this needs role operator; your token has viewer' } });
    expect(await call(base, '/ledger', { headers: bearer('operator') })).toMatchObject({ status: 403, body: { code: 'AUTH.ROLE_FORBIDDEN' } });
    expect(written).toEqual([]);

    expect(await call(base, '/things', { headers: bearer('viewer') })).toMatchObject({ status: 200, body: { caller: { name: 'viewer', role: 'viewer' } } });
    expect(await call(base, '/things', json({ a: 1 }, bearer('operator')))).toMatchObject({ status: 201, body: { written: { a: 1 }, by: 'operator' } });
    expect(await call(base, '/ledger', { headers: bearer('auditor') })).toMatchObject({ status: 200 });
    // admin ⊇ operator ⊇ viewer, and admin ⊇ auditor.
    expect(await call(base, '/things', json({ b: 2 }, bearer('admin')))).toMatchObject({ status: 201, body: { by: 'admin' } });
    expect(await call(base, '/ledger', { headers: bearer('admin') })).toMatchObject({ status: 200 });
    expect(written).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('keeps public routes open and denies by default: a write needs an operator whatever its decorator says', async () => {
    expect(await call(base, '/open')).toMatchObject({ status: 200, body: { open: true } });
    expect(await call(base, '/sloppy', json({}))).toMatchObject({ status: 401 });
    expect(await call(base, '/sloppy', json({}, bearer('viewer')))).toMatchObject({ status: 403, body: { code: 'AUTH.ROLE_FORBIDDEN' } });
    expect(await call(base, '/sloppy', json({}, bearer('auditor')))).toMatchObject({ status: 403 });
    expect(written).toEqual([]);
    expect(await call(base, '/sloppy', json({}, bearer('operator')))).toMatchObject({ status: 201 });
  });

  it('refuses bodies that are not JSON (415), oversized ones (413) and malformed JSON (400), before any route runs', async () => {
    const as = bearer('operator');
    const form = await call(base, '/things', { method: 'POST', headers: { ...as, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    expect(form).toMatchObject({ status: 415, body: { code: 'REQUEST.UNSUPPORTED_MEDIA_TYPE', message: 'send the body as application/json (got "application/x-www-form-urlencoded")' } });
    // What a cross-site form with enctype="text/plain" sends: JSON-looking text.
    expect(await call(base, '/things', { method: 'POST', headers: { ...as, 'content-type': 'text/plain' }, body: '{"a":1}' })).toMatchObject({ status: 415, body: { code: 'REQUEST.UNSUPPORTED_MEDIA_TYPE' } });
    expect(await call(base, '/things', { method: 'POST', headers: as, body: new Blob(['{"a":1}']) })).toMatchObject({ status: 415 });
    // Even without a token: no route, no guard, is reached by a form.
    expect(await call(base, '/things', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' })).toMatchObject({ status: 415 });
    expect(await call(base, '/things', json({ big: 'x'.repeat(1024 * 1024) }, as))).toMatchObject({ status: 413, body: { code: 'REQUEST.TOO_LARGE' } });
    expect(await call(base, '/things', { method: 'POST', headers: { ...as, 'content-type': 'application/json' }, body: '{"a":' })).toMatchObject({ status: 400, body: { code: 'REQUEST.MALFORMED' } });
    expect(written).toEqual([]);
    // JSON with a charset, and a write without a body, pass.
    expect(await call(base, '/things', { method: 'POST', headers: { ...as, 'content-type': 'application/json; charset=utf-8' }, body: '{"a":1}' })).toMatchObject({ status: 201 });
    expect(await call(base, '/things', { method: 'POST', headers: as })).toMatchObject({ status: 201 });
  });

  it('answers 429 with Retry-After after repeated unknown tokens from one address, without checking tokens', async () => {
    const { app, base: limited } = await startApp({ CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS, CONTINUITY_AUTH_MAX_FAILURES: '3', CONTINUITY_AUTH_WINDOW_MS: '60000' });
    apps.push(app);
    // Missing tokens and wrong roles guess nothing and do not count.
    for (let i = 0; i < 5; i++) expect((await call(limited, '/things')).status).toBe(401);
    expect((await call(limited, '/ledger', { headers: bearer('viewer') })).status).toBe(403);
    for (let i = 0; i < 3; i++) expect(await call(limited, '/things', { headers: { authorization: `Bearer guess-${i}` } })).toMatchObject({ status: 401, body: { code: 'AUTH.TOKEN_UNKNOWN' } });
    const blocked = await call(limited, '/things', { headers: bearer('operator') });
    expect(blocked).toMatchObject({ status: 429, body: { code: 'AUTH.TOO_MANY_ATTEMPTS' } });
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(await call(limited, '/things', json({ c: 3 }, bearer('operator')))).toMatchObject({ status: 429 });
    expect(written).toEqual([]);
    // Public routes stay open to the blocked address (a load balancer's health check shares it).
    expect((await call(limited, '/open')).status).toBe(200);
  });

  it('closes every route but the public ones when no tokens are configured', async () => {
    const { app, base: closed } = await startApp({});
    apps.push(app);
    expect(await call(closed, '/things', { headers: bearer('admin') })).toMatchObject({ status: 401, body: { code: 'AUTH.NO_TOKENS' } });
    expect((await call(closed, '/open')).status).toBe(200);
  });
});

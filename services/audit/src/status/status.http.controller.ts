import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { Authenticator, Caller, cookieValue, grants, Public, SESSION_COOKIE } from '@continuity/runtime';
import { HTML_PAGE_HEADERS } from '../api/html.js';
import { LOGIN_PATH, LOGOUT_PATH, renderLoginPage, renderStatusPage, STATUS_PATH } from './status-page.html.js';
import { StatusService } from './status.service.js';

const loginForm = z.object({ token: z.string().min(1).max(512) });

/**
 * The estate page for people: `GET /` with a bearer token, or with the session cookie a browser
 * gets by posting a token once to the login form. Any role may look (each includes viewer).
 *
 * The routes are public to the guard because they answer a browser with a page (the login form)
 * rather than a JSON 401; they authenticate with the guard's own `Authenticator`, so unknown
 * tokens count towards the same per-address limit. The session id is random, held in memory with
 * an expiry, in an HttpOnly SameSite=Strict cookie; the token is never written into a page.
 */
@ApiExcludeController()
@Controller()
export class StatusHttpController {
  constructor(
    private readonly status: StatusService,
    private readonly auth: Authenticator,
  ) {}

  @Get(STATUS_PATH)
  @Public()
  async page(@Req() req: Request, @Res() res: Response) {
    const now = Date.now();
    const address = addressOf(req);
    this.auth.refuseIfThrottled(address, now, (wait) => res.setHeader('Retry-After', String(wait)));
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const caller: Caller | null = bearer ? this.auth.byToken(bearer[1]!, address, now) : this.auth.bySession(req.headers.cookie, now);
    res.set(HTML_PAGE_HEADERS).type('html');
    // Without credentials, the sign-in form is the page (200, as any site's); a bad token is a 401.
    if (!caller || !grants(caller.role, 'viewer')) {
      res.status(bearer ? 401 : 200).send(renderLoginPage(bearer ? 'That token is not known here.' : null));
      return;
    }
    res.status(200).send(renderStatusPage(await this.status.view(new Date(now)), caller, !bearer));
  }

  @Post(LOGIN_PATH)
  @Public()
  login(@Req() req: Request, @Res() res: Response) {
    const now = Date.now();
    const address = addressOf(req);
    res.set(HTML_PAGE_HEADERS).type('html');
    // A browser names the page that posted: a form on another site may not log anyone in here.
    if (!sameOrigin(req)) {
      res.status(403).send(renderLoginPage('Sign in from this page only.'));
      return;
    }
    this.auth.refuseIfThrottled(address, now, (wait) => res.setHeader('Retry-After', String(wait)));
    const form = loginForm.safeParse(req.body);
    const caller = form.success ? this.auth.byToken(form.data.token.trim(), address, now) : null;
    if (!caller) {
      res.status(401).send(renderLoginPage(form.success ? 'That token is not known here.' : 'Paste a token.'));
      return;
    }
    const id = this.auth.sessions.open(caller, now);
    res.setHeader('Set-Cookie', sessionCookie(id, Math.floor(this.auth.sessions.ttlMs / 1000), req.secure));
    res.redirect(303, STATUS_PATH);
  }

  @Post(LOGOUT_PATH)
  @Public()
  logout(@Req() req: Request, @Res() res: Response) {
    this.auth.sessions.close(cookieValue(req.headers.cookie, SESSION_COOKIE));
    res.setHeader('Set-Cookie', sessionCookie('', 0, req.secure));
    res.redirect(303, STATUS_PATH);
  }
}

const addressOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

const sessionCookie = (id: string, maxAgeSeconds: number, secure: boolean) =>
  `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;

/** No Origin (an old browser, curl) passes; one that names another host does not. */
const sameOrigin = (req: Request) => {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
};

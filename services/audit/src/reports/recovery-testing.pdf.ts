import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError } from '@continuity/contracts';

export class PdfRenderError extends DomainError {
  constructor(message: string) {
    super('REPORT.PDF_UNAVAILABLE', message, 503);
  }
}

/**
 * Prints a self-contained HTML page to PDF with headless Chromium (`--print-to-pdf`), from a
 * private temporary folder, with no network (the page has no external assets; the proxy flags make
 * sure it fetches nothing), within `timeoutMs`. The browser is `CHROMIUM_PATH` (default
 * /usr/bin/chromium); without one the PDF is refused with 503, the HTML still served.
 */
export const renderPdf = async (html: string, options: { chromium: string; timeoutMs?: number }): Promise<Buffer> => {
  const dir = await mkdtemp(join(tmpdir(), 'continuity-report-'));
  try {
    const page = join(dir, 'report.html');
    const pdf = join(dir, 'report.pdf');
    await writeFile(page, html, { mode: 0o600 });
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--proxy-server=127.0.0.1:9',
      '--proxy-bypass-list=<-loopback>',
      `--user-data-dir=${join(dir, 'profile')}`,
      '--no-pdf-header-footer',
      '--generate-pdf-document-outline',
      `--print-to-pdf=${pdf}`,
      `file://${page}`,
    ];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(options.chromium, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new PdfRenderError(`cannot run Chromium at ${options.chromium} (CHROMIUM_PATH): ${error.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new PdfRenderError(`Chromium could not print the report (${signal ? `killed by ${signal}` : `exit ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`));
      });
    });
    return await readFile(pdf).catch(() => {
      throw new PdfRenderError('Chromium ended without writing the PDF');
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

import { Parser, type ReadEntry } from 'tar';

/**
 * Reads a tar stream as it passes to the copies, chunk by chunk, handing each entry to `onEntry`
 * (which must drain it: read its data or `resume()` it). `end` resolves when the archive was read
 * to its end and rejects on a malformed one.
 */
export class TarObserver {
  private readonly parser: Parser;
  private readonly ended: Promise<void>;

  constructor(onEntry: (entry: ReadEntry) => void) {
    this.parser = new Parser({ strict: true, onReadEntry: onEntry });
    this.ended = new Promise((resolve, reject) => {
      this.parser.on('end', () => resolve());
      this.parser.on('error', reject);
    });
  }

  write(chunk: Buffer) {
    this.parser.write(chunk);
  }

  async end() {
    this.parser.end();
    await this.ended;
  }
}

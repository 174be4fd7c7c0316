/** A failure to tell the operator in one line, with the process's exit code (2: bad usage or config). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A dependency the CLI could not reach (NATS or the catalogue database): a disaster restore can do without. */
export class UnreachableError extends CliError {}

export const out = (line = '') => process.stdout.write(`${line}\n`);
export const err = (line: string) => process.stderr.write(`${line}\n`);

import { SingleBar } from 'cli-progress';

/** A progress bar on stderr (stdout stays for results): `<label> [███░░] 42% | 1.2 MiB of ~3 MiB | 4s`. */
export const progressBar = (label: string) =>
  new SingleBar({
    format: `${label} [{bar}] {percentage}% | {done} of ~{expected} | {duration_formatted}`,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
    stream: process.stderr,
    noTTYOutput: false,
    fps: 5,
  });

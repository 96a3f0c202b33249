/** A one-line progress bar on a TTY; plain lines otherwise (CI logs, pipes). */
export function progressReporter(isTty: boolean, label: string) {
  return ({
    done,
    total,
    outcome,
  }: {
    done: number;
    total: number;
    outcome: { status: string; detail: string };
  }) => {
    if (!isTty) {
      console.log(`[${done}/${total}] ${outcome.status}: ${outcome.detail}`);
      return;
    }
    const width = 30;
    const filled = Math.round((done / total) * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    process.stdout.write(`\r${label} ${bar} ${done}/${total} ${outcome.status.padEnd(9)}`);
    if (outcome.status === 'failed') process.stdout.write(`\n  ${outcome.detail}\n`);
    if (done === total) process.stdout.write('\n');
  };
}

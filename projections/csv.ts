/**
 * CSV for people, who open it in a spreadsheet. Every CSV the product writes goes through here.
 *
 *   - RFC 4180: a field holding a comma, a double quote or a line break is quoted, its quotes doubled;
 *     records end with CRLF.
 *   - Formula (CSV) injection, as OWASP's CSV Injection page and ASVS 5.0 requirement 1.2.10 describe it:
 *     Excel, LibreOffice Calc and Google Sheets evaluate a cell that starts with = + - @, a tab, a carriage
 *     return or NUL as a formula, even when it is quoted. Values like customer names and order references
 *     come from line software, not from us, so a cell starting with one of those (or with its full-width
 *     form, which some spreadsheets read the same way) gets a leading single quote, the spreadsheets' "this
 *     is text" mark, and is quoted. The quote shows in a text editor; that is the price of not running a
 *     customer's `=HYPERLINK(…)` on an auditor's machine.
 *
 * Pure, and browser-safe (no Node modules): a verifier page can write the same CSV.
 */

/** Characters that make a spreadsheet read a cell as a formula when they come first. */
const FORMULA_TRIGGER = /^[=+\-@\t\r\0\uFF1D\uFF0B\uFF0D\uFF20]/u;
const NEEDS_QUOTES = /[",\r\n]/;

/** One field, neutralised and quoted as needed; null and undefined are empty. */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  const formula = typeof value === 'string' && FORMULA_TRIGGER.test(text);
  if (formula) text = `'${text}`;
  return formula || NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One record, CRLF-terminated. */
export function csvRecord(values: readonly (string | number | boolean | null | undefined)[]): string {
  return values.map(csvField).join(',') + '\r\n';
}

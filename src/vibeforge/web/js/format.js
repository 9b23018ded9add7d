/** Formatting numbers, money, sizes and times for display. */

const integer = new Intl.NumberFormat('en-US');

/** 12,345 */
export function count(value) {
  return integer.format(value || 0);
}

/** $0.0123 (or "—" when unknown): small amounts keep four significant digits. */
export function money(value) {
  if (value === null || value === undefined) return '—';
  if (value === 0) return '$0';
  if (Math.abs(value) < 0.01) return `$${value.toPrecision(3)}`;
  return `$${value.toFixed(value < 10 ? 4 : 2)}`;
}

/** 1.2 KB */
export function bytes(value) {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KB`;
  return `${(value / 1024 / 1024).toFixed(1)} MB`;
}

/** A local date and time, short. */
export function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** "3 min ago" for recent moments, else the date. */
export function ago(iso) {
  if (!iso) return '';
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return when(iso);
}

/** The first 8 characters of a version or id. */
export function short(id) {
  return id ? id.slice(0, 8) : '';
}

/** "1,234 in · 56 out · $0.0012" for a token usage total. */
export function usageLine(usage) {
  if (!usage) return '';
  const parts = [`${count(usage.prompt_tokens)} in`, `${count(usage.completion_tokens)} out`];
  if (usage.cached_tokens) parts.push(`${count(usage.cached_tokens)} cached`);
  parts.push(money(usage.cost_usd));
  return parts.join(' · ');
}

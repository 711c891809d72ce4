// Number, size, time and payload formatting. Pure functions, no DOM.

export const DASH = '—';
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const grouped = new Intl.NumberFormat('en-US');

// Compact: 950, 1.2k, 34k, 5.6M. For tiles, rates and plot axes.
export function fmtNum(v) {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  if (a < 1000) {
    if (Number.isInteger(v)) return String(v);
    return v.toFixed(a < 10 ? 2 : 1).replace(/\.?0+$/, '');
  }
  const units = ['k', 'M', 'G', 'T', 'P'];
  let x = v;
  let i = -1;
  while (Math.abs(x) >= 1000 && i < units.length - 1) {
    x /= 1000;
    i += 1;
  }
  const digits = Math.abs(x) < 10 ? 1 : 0;
  return x.toFixed(digits).replace(/\.0$/, '') + units[i];
}

// Exact, grouped: 1,234,567. For counters on detail pages.
export function fmtCount(v) {
  return isNum(v) ? grouped.format(v) : DASH;
}

export function fmtRate(v) {
  return isNum(v) ? `${fmtNum(v)}/s` : DASH;
}

// Binary units: store sizes and limits are configured in them.
export function fmtBytes(v) {
  if (!isNum(v)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let x = v;
  let i = 0;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  const digits = i === 0 || Math.abs(x) >= 100 ? 0 : 1;
  return `${x.toFixed(digits)} ${units[i]}`;
}

// 45s, 3m 12s, 2h 5m, 3d 4h.
export function fmtDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

// Epoch milliseconds from a number or an ISO string; null when neither.
export function toMs(when) {
  if (isNum(when)) return when;
  if (typeof when !== 'string' || when === '') return null;
  const t = Date.parse(when);
  return Number.isNaN(t) ? null : t;
}

// Seconds elapsed since `when`; clamped at 0 because server and browser clocks differ.
export function secondsSince(when) {
  const t = toMs(when);
  return t === null || t <= 0 ? null : Math.max(0, (Date.now() - t) / 1000);
}

export function fmtAgo(when) {
  const s = secondsSince(when);
  if (s === null) return DASH;
  if (s < 5) return 'just now';
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtBool(v) {
  if (v === true) return 'yes';
  if (v === false) return 'no';
  return DASH;
}

// Any JSON value as one line of text, for tables of fields we do not know ahead.
export function fmtValue(v) {
  if (v === null || v === undefined) return DASH;
  if (isNum(v)) return fmtCount(v);
  if (typeof v === 'boolean') return fmtBool(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.length ? v.join(', ') : DASH;
  return JSON.stringify(v);
}

// "some_field" -> "some field"
export function humanize(key) {
  return String(key).replace(/_/g, ' ');
}

// --- Payloads --------------------------------------------------------------

const HEX_LIMIT = 64 * 1024; // a hex dump is ~4.4x the payload; more than this is unreadable anyway

// {encoding, data} -> {kind: "json"|"text"|"hex", text}
export function renderPayload(payload) {
  if (!payload || typeof payload.data !== 'string') return { kind: 'text', text: '' };
  if (payload.encoding === 'base64') {
    let bytes;
    try {
      bytes = base64Bytes(payload.data);
    } catch {
      return { kind: 'text', text: '(the payload is not valid base64)' };
    }
    return { kind: 'hex', text: hexDump(bytes) };
  }
  try {
    return { kind: 'json', text: JSON.stringify(JSON.parse(payload.data), null, 2) };
  } catch {
    return { kind: 'text', text: payload.data };
  }
}

function base64Bytes(data) {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// 00000000  48 65 6c 6c 6f 20 77 6f  72 6c 64 0a              |Hello world.|
export function hexDump(bytes) {
  const shown = bytes.subarray(0, HEX_LIMIT);
  const lines = [];
  for (let offset = 0; offset < shown.length; offset += 16) {
    const row = shown.subarray(offset, offset + 16);
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i += 1) {
      hex += i < row.length ? `${row[i].toString(16).padStart(2, '0')} ` : '   ';
      if (i === 7) hex += ' ';
      if (i < row.length) ascii += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : '.';
    }
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  if (bytes.length > shown.length) lines.push(`… ${fmtCount(bytes.length - shown.length)} more bytes not shown`);
  return lines.join('\n');
}

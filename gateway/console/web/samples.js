// The last hour of one-second samples, one array per column, read by column
// name (the server names them in /history's "columns"; positions may change).

const WINDOW_S = 3600;

export class Samples {
  constructor(columns) {
    this.columns = Array.isArray(columns) ? columns : [];
    this.index = new Map(this.columns.map((name, i) => [name, i]));
    this.values = this.columns.map(() => []);
    this.xs = []; // seconds, as uPlot wants
    this.timeIndex = this.index.has('t_ms') ? this.index.get('t_ms') : -1;
  }

  get length() {
    return this.xs.length;
  }

  // Newest t_ms, for /history?since_ms=; null before the first sample.
  get lastMs() {
    if (!this.xs.length || this.timeIndex < 0) return null;
    return this.values[this.timeIndex][this.xs.length - 1];
  }

  // Adds one row (array in column order); rows not newer than the last are
  // skipped, as a history poll and the live stream can overlap.
  add(row) {
    if (!Array.isArray(row) || this.timeIndex < 0) return false;
    const t = row[this.timeIndex];
    if (typeof t !== 'number') return false;
    const last = this.lastMs;
    // The gateway's clock stepped back (NTP on a box without a battery-backed
    // clock): start again from this row rather than freeze until it catches up.
    if (last !== null && t < last - 5000) this.clear();
    else if (last !== null && t <= last) return false;
    for (let i = 0; i < this.values.length; i += 1) {
      const v = row[i];
      this.values[i].push(typeof v === 'number' && Number.isFinite(v) ? v : null);
    }
    this.xs.push(t / 1000);
    return true;
  }

  clear() {
    this.xs = [];
    this.values = this.columns.map(() => []);
  }

  // Drops what is older than an hour before the newest sample.
  trim() {
    if (!this.xs.length) return;
    const cutoff = this.xs[this.xs.length - 1] - WINDOW_S;
    let n = 0;
    while (n < this.xs.length && this.xs[n] < cutoff) n += 1;
    if (!n) return;
    this.xs.splice(0, n);
    for (const column of this.values) column.splice(0, n);
  }

  // A column's values; all nulls when the server does not send that column.
  column(name) {
    const i = this.index.get(name);
    return i === undefined ? new Array(this.xs.length).fill(null) : this.values[i];
  }

  latest(name) {
    const i = this.index.get(name);
    if (i === undefined || !this.xs.length) return null;
    return this.values[i][this.xs.length - 1];
  }
}

// Runs an async function now and again `ms` after each run ends, so slow
// answers never pile up. refresh() runs it at once (or right after the run
// in flight); stop() ends it for good.
import { showError } from './dom.js';

export function poll(fn, ms) {
  let timer = 0;
  let running = false;
  let again = false;
  let stopped = false;

  async function tick() {
    clearTimeout(timer);
    timer = 0;
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } catch (err) {
      showError(err); // fn reports its own errors; this only keeps a slip from going uncaught
    }
    running = false;
    if (stopped) return;
    if (again) {
      again = false;
      tick();
    } else {
      timer = setTimeout(tick, ms);
    }
  }

  tick();
  return {
    refresh: tick,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// Calls fn once input has been quiet for `ms`.
export function debounce(fn, ms) {
  let timer = 0;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

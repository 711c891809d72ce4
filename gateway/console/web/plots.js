// A uPlot chart that follows its container's width. It records the number of
// x points drawn in the container's data-points attribute (tests watch it grow).
import { DASH, fmtNum } from './format.js';

const HEIGHT = 180;

// Rates and counts never go below zero: anchor the y axis there.
const fromZero = (u, min, max) => [0, max > 0 ? max * 1.1 : 1];

// Tick steps for byte axes: 1, 2, 5, 10... times powers of 1024, so ticks read 512 KiB, 1 MiB.
export const BYTE_STEPS = [];
for (let power = 0; power <= 5; power += 1) {
  for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500]) BYTE_STEPS.push(m * 1024 ** power);
}

// series: [{label, stroke, right?}]; format: value -> text for axes and legend;
// steps: tick increments for the left axis (uPlot's decimal ones by default).
export function createPlot(container, { series, format = fmtNum, rightFormat = fmtNum, steps }) {
  container.dataset.points = '0';
  if (typeof window.uPlot !== 'function') {
    container.textContent = 'Charts are unavailable: uPlot.iife.min.js did not load.';
    return { setData() {}, destroy() {} };
  }
  const hasRight = series.some((s) => s.right);
  const axisValues = (fmt) => (u, splits) => splits.map((v) => (v === null ? '' : fmt(v)));
  const opts = {
    width: widthOf(container),
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: fromZero }, right: { range: fromZero } },
    series: [
      { value: (u, v) => (v === null ? DASH : new Date(v * 1000).toLocaleTimeString()) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: 1.5,
        scale: s.right ? 'right' : 'y',
        value: (u, v) => (v === null || v === undefined ? DASH : (s.right ? rightFormat : format)(v)),
      })),
    ],
    axes: [
      {},
      { scale: 'y', values: axisValues(format), size: 64, ...(steps ? { incrs: steps } : {}) },
      ...(hasRight ? [{ scale: 'right', side: 1, grid: { show: false }, values: axisValues(rightFormat), size: 64 }] : []),
    ],
    // Drag-zoom would freeze the x range while new points keep arriving.
    cursor: { drag: { x: false, y: false } },
  };
  const plot = new window.uPlot(opts, [[], ...series.map(() => [])], container);

  // Resize in the next frame: resizing inside the observer callback can loop.
  let frame = 0;
  let width = opts.width;
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      const next = widthOf(container);
      if (next !== width) {
        width = next;
        plot.setSize({ width, height: HEIGHT });
      }
    });
  });
  observer.observe(container);

  return {
    setData(data) {
      plot.setData(data);
      container.dataset.points = String(data[0].length);
    },
    destroy() {
      observer.disconnect();
      cancelAnimationFrame(frame);
      plot.destroy();
    },
  };
}

function widthOf(container) {
  return Math.max(200, Math.floor(container.clientWidth || 0));
}

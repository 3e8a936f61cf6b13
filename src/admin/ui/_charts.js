// The admin page's charts (uPlot, loaded by the page as a global before this module): one per
// series of /admin/api/stats, over the last 15 minutes; the errors chart has a line per code.

const CHARTS = [
  { key: "connections", label: "Connections", color: "#0b4fa8" },
  { key: "subscriptions", label: "Subscriptions", color: "#6a3d9a" },
  { key: "channels", label: "Channels", color: "#1b7837" },
  { key: "pushesPerSecond", label: "Pushes/s", color: "#b35806" },
  { key: "deliveriesPerSecond", label: "Deliveries/s", color: "#8c510a" },
  { key: "errorsPerSecond", label: "Errors/s by code", color: "#a11616" },
];
const ERROR_COLORS = ["#a11616", "#0b4fa8", "#1b7837", "#6a3d9a", "#b35806", "#444"];

/** @type {Map<string, {plot: any, codes: string, value: HTMLElement, box: HTMLElement}>} */
const charts = new Map();

export function format(value) {
  return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(1);
}

function chartWidth(box) {
  return Math.max(220, box.clientWidth - 4);
}

function ensureChart(spec, codes, container) {
  let chart = charts.get(spec.key);
  if (chart !== undefined && chart.codes === codes) return chart;
  if (chart === undefined) {
    const figure = document.createElement("figure");
    figure.className = "chart";
    figure.dataset.chart = spec.key;
    const caption = document.createElement("figcaption");
    const name = document.createElement("span");
    name.id = `chart-${spec.key}-name`;
    name.textContent = spec.label;
    const value = document.createElement("output");
    value.id = `chart-${spec.key}-value`;
    value.setAttribute("aria-labelledby", name.id);
    caption.append(name, value);
    const box = document.createElement("div");
    box.className = "plot";
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", `${spec.label} over the last 15 minutes`);
    figure.append(caption, box);
    container.append(figure);
    chart = { plot: null, codes: "", value, box };
    charts.set(spec.key, chart);
  }
  chart.plot?.destroy();
  const lines = spec.key === "errorsPerSecond"
    ? (codes === "" ? ["none"] : codes.split(",")).map((code, i) => ({
      label: code,
      stroke: ERROR_COLORS[i % ERROR_COLORS.length],
      width: 2,
    }))
    : [{ label: spec.label, stroke: spec.color, width: 2, fill: `${spec.color}22` }];
  chart.plot = new globalThis.uPlot(
    {
      width: chartWidth(chart.box),
      height: 150,
      legend: { show: spec.key === "errorsPerSecond" },
      cursor: { show: false },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: "#333" }, { stroke: "#333", size: 50 }],
      series: [{}, ...lines],
    },
    [[]],
    chart.box,
  );
  chart.codes = codes;
  return chart;
}

/**
 * Draws `stats.series` (and the current values) into the charts, adding them to `container`
 * the first time.
 */
export function renderCharts(stats, container) {
  const series = stats.series;
  const t = series.t.map((ms) => ms / 1000);
  for (const spec of CHARTS) {
    if (spec.key === "errorsPerSecond") {
      const byCode = series.errorsPerSecond ?? {};
      const codes = Object.keys(byCode).sort();
      const chart = ensureChart(spec, codes.join(","), container);
      const columns = codes.length === 0 ? [t.map(() => 0)] : codes.map((c) => byCode[c]);
      chart.plot.setData([t, ...columns]);
      const current = codes
        .map((code) => `${code}: ${format(byCode[code].at(-1) ?? 0)}`)
        .filter((text) => !text.endsWith(": 0"));
      chart.value.textContent = current.length === 0 ? "0" : current.join(", ");
      continue;
    }
    const chart = ensureChart(spec, "", container);
    const values = series[spec.key] ?? [];
    chart.plot.setData([t, values]);
    const current = spec.key in stats ? stats[spec.key] : values.at(-1) ?? 0;
    chart.value.textContent = format(current);
  }
}

addEventListener("resize", () => {
  for (const chart of charts.values()) {
    chart.plot?.setSize({ width: chartWidth(chart.box), height: 150 });
  }
});

// Draws the analytics page's charts with uPlot from the JSON the page carries
// (#charts-data): `time` charts over days, `bars` over named categories, `share` over a
// title's length. The value axis (and a time chart's days) come with their ticks and words
// from the server, so labels never repeat. The tables below the charts hold the same numbers.
(function analytics() {
  'use strict';
  const data = document.getElementById('charts-data');
  if (!data || !window.uPlot) return;
  const charts = JSON.parse(data.textContent);
  const colours = ['#4cc9f0', '#f4a261', '#90be6d', '#e76f51', '#b388eb'];
  const axis = { stroke: '#9aa0aa', grid: { stroke: '#23262d' }, ticks: { stroke: '#23262d' } };
  // An axis drawn where the server put its ticks, each with the server's words.
  const given = (ticks) => ({
    splits: () => ticks.ticks,
    values: (u, splits) => splits.map((v) => ticks.labels[ticks.ticks.indexOf(v)] ?? ''),
  });

  charts.forEach((chart) => {
    const box = document.querySelector(`[data-chart="${CSS.escape(chart.id)}"]`);
    if (!box) return;
    const width = Math.max(280, box.clientWidth || 480);
    const bars = chart.kind === 'bars';
    const series = [{}].concat(chart.series.map((s, i) => ({
      label: s.label,
      stroke: colours[i % colours.length],
      width: 2,
      dash: s.previous ? [6, 4] : undefined,
      fill: bars ? `${colours[i % colours.length]}99` : undefined,
      paths: bars ? window.uPlot.paths.bars({ size: [0.6, 60] }) : undefined,
      points: { show: chart.x.length < 40 && !bars },
      value: (u, v) => (v == null ? '–' : `${+v.toFixed(2)}${chart.unit ? ` ${chart.unit}` : ''}`),
    })));
    const x = bars
      ? { space: 30, values: (u, ticks) => ticks.map((t) => chart.labels[t] || ''), ...axis }
      : chart.kind === 'share'
        ? { values: (u, ticks) => ticks.map((t) => `${t} %`), ...axis }
        : chart.x_axis ? { ...given(chart.x_axis), ...axis } : axis;
    const options = {
      // The figures are UTC days: draw them so, wherever the browser is.
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      width,
      height: 240,
      series,
      scales: {
        x: { time: chart.kind === 'time', range: bars ? [-0.5, chart.x.length - 0.5] : undefined },
        y: { range: [0, chart.y_axis.ticks[chart.y_axis.ticks.length - 1]] },
      },
      axes: [x, { ...given(chart.y_axis), size: 70, ...axis }],
      legend: { live: !bars },
    };
    if (bars) series[0] = { value: (u, v) => chart.labels[v] || '' };
    const plot = new window.uPlot(options, [chart.x].concat(chart.series.map((s) => s.values)), box);
    new ResizeObserver(() => plot.setSize({ width: Math.max(280, box.clientWidth), height: 240 })).observe(box);
  });
}());

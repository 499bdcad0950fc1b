/*
 * The quality trend (anomalies/quality.html): anomalies found per semester, one line per
 * kind, and the number still open as bars. Data from the json_script element named by
 * data-quality-chart (no inline script: the pages run under a strict CSP).
 */
(function () {
  "use strict";

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-quality-chart"));
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    var series = data.series
      .filter(function (s) { return s.data.some(function (v) { return v > 0; }); })
      .map(function (s) { return { name: s.name, type: "line", data: s.data, symbolSize: 6 }; });
    series.push({
      name: data.labels.open, type: "bar", data: data.open, barMaxWidth: 28,
      itemStyle: { color: "rgba(220, 53, 69, 0.35)" }
    });
    chart.setOption({
      animation: false,
      aria: { enabled: true },
      grid: { left: 8, right: 16, top: 56, bottom: 8, containLabel: true },
      legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "axis", renderMode: "richText" },
      xAxis: { type: "category", data: data.semesters, axisLabel: { interval: 0, rotate: data.semesters.length > 4 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-quality-chart]").forEach(draw);
  });
})();

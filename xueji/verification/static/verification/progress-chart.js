/*
 * The progress chart of a confirmation campaign (verification/progress.html): a horizontal
 * bar per child unit, percent of students marked and of schools signed off; units with
 * overdue schools in red (the bar and the unit's name, so a unit at 0 % shows it too). The
 * data come from a json_script element named by the chart's
 * data-chart attribute (no inline script: the pages run under a strict CSP).
 */
(function () {
  "use strict";

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    var rows = data.labels.length;
    el.style.height = Math.max(240, 56 * rows + 80) + "px";
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    var percentBars = data.percent.map(function (value, i) {
      return { value: value, itemStyle: { color: data.overdue[i] ? "#dc3545" : "#0d6efd" } };
    });
    chart.setOption({
      animation: false,
      aria: { enabled: true },
      grid: { left: 8, right: 40, top: 36, bottom: 8, containLabel: true },
      // One scrolling line: a wrapped legend would overlap the bars on a phone.
      legend: { top: 0, type: "scroll", data: [data.names.percent, data.names.signed] },
      // No tooltip: ECharts builds it with inline styles, which the CSP blocks; each bar
      // carries its figure as a label, and the table below has every number.
      tooltip: { show: false },
      xAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      yAxis: {
        type: "category",
        inverse: true,
        data: data.labels,
        // Names of one county share their first characters: wrap rather than cut them.
        axisLabel: {
          width: 96,
          overflow: "break",
          lineHeight: 14,
          color: function (value, index) { return data.overdue[index] ? "#dc3545" : "#495057"; }
        }
      },
      series: [
        {
          name: data.names.percent,
          type: "bar",
          barMaxWidth: 28,
          data: percentBars,
          itemStyle: { color: "#0d6efd" },
          label: { show: true, position: "right", formatter: "{c}%" }
        },
        {
          name: data.names.signed,
          type: "bar",
          barMaxWidth: 28,
          data: data.signed,
          itemStyle: { color: "#198754" },
          label: { show: true, position: "right", formatter: "{c}%" }
        }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(draw);
  });
})();

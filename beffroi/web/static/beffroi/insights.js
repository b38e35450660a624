// Statistics charts (Apache ECharts, vendored). Each [data-chart] element names a <script type="application/json">
// (Django's json_script) holding what to draw, in numbers and translated labels; the same numbers are in the
// table one click away beside it. No inline script (CSP). Readable without colour: ARIA descriptions, decal
// patterns on areas, and a distinct symbol and dash for each line.
// Choosing a date makes the period "custom dates" (without JavaScript, the person picks it in the list).
(() => {
  const days = document.getElementById("filter-days");
  for (const id of ["filter-start", "filter-end"]) {
    const input = document.getElementById(id);
    if (days && input) input.addEventListener("change", () => (days.value = "custom"));
  }
})();

(() => {
  if (!window.echarts) return;
  const lang = document.documentElement.lang || "fr";
  const numbers = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  const format = (value) => (value === null || value === undefined ? "–" : numbers.format(value));
  const day = (iso) => new Date(`${iso}T12:00:00`).toLocaleDateString(lang, { day: "numeric", month: "short" });
  const SYMBOLS = ["circle", "rect", "triangle", "diamond", "pin"];
  const DASHES = ["solid", "dashed", "dotted", [8, 3, 2, 3], "solid"];

  const common = () => ({
    aria: { enabled: true, decal: { show: true } },
    animation: false,
    // Rich-text tooltips are drawn inside the chart: no HTML with inline styles (the page's CSP forbids them).
    tooltip: { renderMode: "richText", valueFormatter: format },
    textStyle: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
  });

  const lineStyle = (index) => ({
    symbol: SYMBOLS[index % SYMBOLS.length],
    symbolSize: 7,
    lineStyle: { width: 2, type: DASHES[index % DASHES.length] },
  });

  const builders = {
    line(data) {
      const axes = data.axes.map((name, index) => ({
        type: "value",
        name,
        position: index ? "right" : "left",
        axisLabel: { formatter: format },
        splitLine: { show: index === 0 },
      }));
      return {
        ...common(),
        tooltip: { ...common().tooltip, trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 16, right: 16, top: 56, bottom: 16, containLabel: true },
        xAxis: { type: "category", data: data.x, axisLabel: { formatter: day } },
        yAxis: axes,
        series: data.series.map((series, index) => ({
          type: "line",
          name: series.name,
          data: series.data,
          yAxisIndex: series.axis,
          showSymbol: data.x.length <= 40,
          connectNulls: false,
          ...lineStyle(index),
        })),
      };
    },

    pyramid(data) {
      const negative = data.left.data.map((value) => -value);
      return {
        ...common(),
        tooltip: { ...common().tooltip, trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => format(Math.abs(v)) },
        legend: { top: 0 },
        grid: { left: 16, right: 16, top: 36, bottom: 16, containLabel: true },
        xAxis: { type: "value", axisLabel: { formatter: (v) => format(Math.abs(v)) } },
        yAxis: { type: "category", data: data.bands, axisTick: { show: false } },
        series: [
          {
            type: "bar",
            name: data.left.name,
            stack: "people",
            data: negative,
            label: { show: true, position: "left", formatter: (p) => format(Math.abs(p.value)) },
          },
          {
            type: "bar",
            name: data.right.name,
            stack: "people",
            data: data.right.data,
            label: { show: true, position: "right", formatter: (p) => format(p.value) },
          },
        ],
      };
    },

    heatmap(data) {
      return {
        ...common(),
        // Every cell shows its number: a decal pattern over it would only make the number harder to read.
        aria: { enabled: true, decal: { show: false } },
        tooltip: {
          ...common().tooltip,
          formatter: (p) => `${data.days[p.value[1]]} ${data.hours[p.value[0]]}: ${format(p.value[2])} ${data.unit}`,
        },
        grid: { left: 16, right: 16, top: 16, bottom: 64, containLabel: true },
        xAxis: { type: "category", data: data.hours, splitArea: { show: true } },
        yAxis: { type: "category", data: data.days, inverse: true, splitArea: { show: true } },
        visualMap: {
          min: data.min,
          max: data.max,
          calculable: false,
          orient: "horizontal",
          left: "center",
          bottom: 0,
          text: [format(data.max), format(data.min)],
          // One hue from light to dark: the order reads in grey too, and every cell has its number.
          inRange: { color: ["#f1f5fc", "#9db6e6", "#2457c5", "#14306e"] },
        },
        series: [
          {
            type: "heatmap",
            name: data.title,
            data: data.cells,
            label: {
              show: true,
              fontSize: 9,
              color: "#111",
              textBorderColor: "#fff",
              textBorderWidth: 2,
              formatter: (p) => format(p.value[2] >= 10 ? Math.round(p.value[2]) : p.value[2]),
            },
            emphasis: { itemStyle: { borderColor: "#000", borderWidth: 1 } },
          },
        ],
      };
    },

    curve(data) {
      return {
        ...common(),
        tooltip: { ...common().tooltip, trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 16, right: 24, top: 40, bottom: 32, containLabel: true },
        xAxis: { type: "value", name: data.x_label, nameLocation: "middle", nameGap: 26, min: 0 },
        yAxis: { type: "value", axisLabel: { formatter: format } },
        series: data.series.map((series, index) => ({
          type: "line",
          name: series.name,
          data: series.data,
          ...lineStyle(index),
        })),
      };
    },
  };

  for (const element of document.querySelectorAll("[data-chart]")) {
    const source = document.getElementById(element.dataset.chart);
    if (!source) continue;
    const data = JSON.parse(source.textContent);
    const build = builders[data.type];
    if (!build) continue;
    const chart = echarts.init(element, null, {
      locale: element.dataset.locale === "FR" ? "FR" : "EN",
      renderer: "svg",
    });
    chart.setOption(build(data));
    element.dataset.ready = "true";
    window.addEventListener("resize", () => chart.resize());
  }
})();

// Draws the crawler analytics charts from the JSON the page embeds (#analytics-data).
// The page's tables carry the same numbers, so nothing is lost without JavaScript.
(function () {
  "use strict";

  var PALETTE = ["#1f6feb", "#d1242f", "#2da44e", "#bf8700", "#8250df", "#e16f24", "#0a7e8c", "#cf222e", "#6e7781"];
  var OUTCOME_COLOURS = {served: "#2da44e", licensed: "#1f6feb", charged: "#8250df", quoted: "#bf8700", refused: "#d1242f"};

  function stacked(canvas, labels, datasets) {
    return new Chart(canvas, {
      type: "bar",
      data: {labels: labels, datasets: datasets},
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: {mode: "index", intersect: false},
        scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}},
        plugins: {legend: {position: "bottom"}}
      }
    });
  }

  function draw() {
    var blob = document.getElementById("analytics-data");
    if (!blob || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(blob.textContent);
    var groups = document.getElementById("analytics-groups-chart");
    if (groups) {
      stacked(groups, data.labels, data.groups.map(function (set, i) {
        return {label: set.label, data: set.data, backgroundColor: PALETTE[i % PALETTE.length]};
      }));
    }
    var outcomes = document.getElementById("analytics-outcomes-chart");
    if (outcomes) {
      stacked(outcomes, data.labels, data.outcomes.map(function (set) {
        return {label: set.label, data: set.data, backgroundColor: OUTCOME_COLOURS[set.label] || "#6e7781"};
      }));
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

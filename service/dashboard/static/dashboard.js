// xbarnas dashboard: fills the server-rendered pages from the REST API (/v1).
"use strict";

const TERMINAL = ["succeeded", "failed", "cancelled"];
const DRIFT_TICKS = {
  1: "1 s", 3600: "1 h", 86400: "1 day", 2592000: "1 month", 31536000: "1 year", 315360000: "10 years",
};
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2",
  "#65a30d", "#ea580c", "#4f46e5"];

// --- API access ------------------------------------------------------------------------------
// The server exchanges the key for a session cookie (HttpOnly: this script never sees it) when
// the page is opened with the URL that `xbarnas serve` prints (?token=KEY), or when the key form
// posts the key to /session. Same-origin requests carry the cookie; the script holds no secret.

class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  const body = response.headers.get("content-type")?.includes("json")
    ? await response.json()
    : await response.text();
  if (response.status === 401) askForKey(body.detail);
  if (!response.ok) throw new ApiError(response.status, body.detail ?? body);
  return body;
}

function askForKey(detail) {
  const form = document.getElementById("key-form");
  form.hidden = false;
  notice(`${detail ?? "An API key is required"}. Paste a key: yours, of \`xbarnas serve\`, is in ` +
    "the file local-key of the server's data directory.");
}

function setupKeyForm() {
  localStorage.removeItem("xbarnas-key");  // where earlier versions kept the key itself
  document.getElementById("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = document.getElementById("key-input").value.trim();
    try {
      await api("/session", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key }),
      });
      window.location.reload();
    } catch (error) {
      notice("Sign-in failed: " + error.message);
    }
  });
}

function notice(text) {
  const element = document.getElementById("notice");
  element.textContent = text;
  element.hidden = !text;
}

// --- formatting --------------------------------------------------------------------------------
function percent(value, digits = 2) {
  return value == null ? "–" : (100 * value).toFixed(digits) + " %";
}

function duration(seconds) {
  if (seconds == null) return "–";
  if (seconds < 60) return Math.round(seconds) + " s";
  if (seconds < 3600) return Math.round(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
}

function number(value, digits = 0) {
  return value == null ? "–" : Number(value).toLocaleString(undefined, {
    maximumFractionDigits: digits, minimumFractionDigits: digits,
  });
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function statusBadge(status) {
  return element("span", { class: "status " + status }, status);
}

function progressBar(job) {
  const value = Math.round(100 * job.progress);
  const bar = element("div", {
    class: "progress small " + job.status, role: "progressbar",
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(value),
  }, element("div", { class: "fill", style: `width: ${value}%` }));
  return element("div", { class: "progress-cell" }, bar, element("span", {}, value + " %"));
}

// --- job list ----------------------------------------------------------------------------------
const PAGE_SIZE = 25;

async function jobsPage() {
  let offset = 0;
  const refresh = async () => {
    try {
      const page = await api(`/v1/jobs?offset=${offset}&limit=${PAGE_SIZE}`);
      renderJobs(page);
      notice("");
      return page.items.some((job) => !TERMINAL.includes(job.status));
    } catch (error) {
      notice("Could not load jobs: " + error.message);
      return false;
    }
  };
  document.getElementById("older").addEventListener("click", () => { offset += PAGE_SIZE; refresh(); });
  document.getElementById("newer").addEventListener("click", () => {
    offset = Math.max(0, offset - PAGE_SIZE);
    refresh();
  });
  const loop = async () => {
    const active = await refresh();
    setTimeout(loop, active ? 1500 : 10000);
  };
  loop();
}

function renderJobs(page) {
  const empty = page.total === 0;
  document.getElementById("empty").hidden = !empty;
  document.getElementById("jobs").hidden = empty;
  document.getElementById("pager").hidden = page.total <= PAGE_SIZE;
  document.getElementById("page-info").textContent =
    `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`;
  document.getElementById("newer").disabled = page.offset === 0;
  document.getElementById("older").disabled = page.offset + page.items.length >= page.total;
  const rows = page.items.map((job) => {
    const link = element("a", { href: `/jobs/${job.id}` }, element("code", {}, job.id.slice(0, 8)));
    const hardware = job.request.hardware || {};
    return element("tr", { dataset: { jobId: job.id } },
      element("td", {}, link),
      element("td", {}, job.request.task, job.parent_id ? element("span", { class: "help" }, " · re-score") : ""),
      element("td", {}, `${hardware.preset} ${hardware.tile_rows}×${hardware.tile_cols}`),
      element("td", {}, statusBadge(job.status)),
      element("td", {}, job.phase),
      element("td", {}, progressBar(job)),
      element("td", {}, TERMINAL.includes(job.status) ? "–" : duration(job.eta_seconds)),
      element("td", {}, new Date(job.created_at).toLocaleString()),
      element("td", { class: "num" }, percent(job.best_accuracy_1d)),
    );
  });
  document.querySelector("#jobs tbody").replaceChildren(...rows);
}

// --- submit form -------------------------------------------------------------------------------
async function newJobPage() {
  const form = document.getElementById("job-form");
  const preset = document.getElementById("f-hardware.preset");
  const showPreset = () => {
    for (const table of document.querySelectorAll("[data-preset]")) {
      table.hidden = table.dataset.preset !== preset.value;
    }
  };
  preset?.addEventListener("change", showPreset);
  showPreset();
  await loadTasks();
  document.getElementById("upload-button").addEventListener("click", uploadDataset);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const button = document.getElementById("submit");
    button.disabled = true;
    try {
      const job = await api("/v1/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(readForm(form)),
      });
      window.location.href = `/jobs/${job.id}`;
    } catch (error) {
      showErrors(error);
      button.disabled = false;
    }
  });
}

async function loadTasks(selected) {
  const select = document.getElementById("f-task");
  const current = selected || select.value || select.dataset.default;
  try {
    const tasks = await api("/v1/tasks");
    select.replaceChildren(...tasks.map((task) =>
      element("option", { value: task.name, title: task.description },
        `${task.name} — ${task.description}`)));
    select.value = current;
  } catch (error) {
    showError("task", "could not load the tasks: " + error.message);
  }
}

async function uploadDataset() {
  clearErrors();
  const input = document.getElementById("upload-file");
  if (!input.files.length) return showError("file", "choose an .npz file first");
  const body = new FormData();
  body.append("file", input.files[0]);
  try {
    const dataset = await api("/v1/datasets", { method: "POST", body });
    await loadTasks(dataset.task);
  } catch (error) {
    showErrors(error);
  }
}

function readForm(form) {
  const body = {};
  for (const input of form.querySelectorAll("[data-path]")) {
    const value = readValue(input);
    if (value === undefined) continue;
    const path = input.dataset.path.split(".");
    let target = body;
    for (const key of path.slice(0, -1)) target = target[key] ??= {};
    target[path.at(-1)] = value;
  }
  return body;
}

function readValue(input) {
  switch (input.dataset.kind) {
    case "choices":
      return [...input.querySelectorAll("input:checked")].map((box) => box.value);
    case "checkbox":
      return input.checked;
    case "tristate":  // the preset's value (null), on or off
      return input.value === "" ? null : input.value === "true";
    case "integer":
    case "number": {
      const text = input.value.trim();
      if (text === "") return "optional" in input.dataset ? null : undefined;
      return Number(text);  // the server validates; a non-number becomes NaN -> null -> 422
    }
    default:
      return input.value;
  }
}

function clearErrors() {
  for (const slot of document.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const field of document.querySelectorAll(".field.invalid")) field.classList.remove("invalid");
}

// Put an error next to the field the API named: a validation error's `loc` (["body",
// "hardware", "tile_rows"]) or a message that starts with the field ("task: ...").
function showErrors(error) {
  const detail = error.detail;
  if (Array.isArray(detail)) {
    for (const item of detail) {
      const path = item.loc.filter((part) => part !== "body").join(".");
      showError(path, item.msg);
    }
  } else {
    const text = typeof detail === "string" ? detail : error.message;
    const match = /^([\w.]+): (.*)$/s.exec(text);
    if (match) showError(match[1], match[2]);
    else showError("", text);
  }
}

function showError(path, message) {
  // the field itself, else its closest named parent (a section), else the form
  let key = path;
  let slot = document.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
  while (!slot && key.includes(".")) {
    key = key.slice(0, key.lastIndexOf("."));
    slot = document.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
  }
  if (!slot) {
    slot = document.querySelector('[data-error-for=""]');
    message = path ? `${path}: ${message}` : message;
  }
  slot.textContent = slot.textContent ? slot.textContent + "; " + message : message;
  slot.hidden = false;
  slot.closest(".field")?.classList.add("invalid");
  slot.closest("details")?.setAttribute("open", "");  // a collapsed group shows its error
  slot.scrollIntoView({ block: "center", behavior: "smooth" });
}

// --- job page ----------------------------------------------------------------------------------
async function jobPage() {
  const root = document.getElementById("job");
  const jobId = root.dataset.jobId;
  const formats = root.dataset.formats.split(",");
  const chip = {
    overrides: root.dataset.chipOverrides.split(","), zeroMeans: JSON.parse(root.dataset.zeroMeans),
  };
  const view = {
    jobId, formats, chip, axis: "tiles", candidates: [], lastFetch: 0, fetched: null,
    tolerance: 1, selected: null, parent: null, job: null,
  };
  document.getElementById("pareto-x").addEventListener("change", (event) => {
    view.axis = event.target.value;
    drawPareto(view);
  });
  document.getElementById("tolerance").addEventListener("change", async (event) => {
    const tolerance = Number(event.target.value);
    if (!(tolerance > 0 && tolerance <= 100)) return;
    view.tolerance = tolerance;
    await loadCandidates(view);
  });
  document.getElementById("rescore-form").addEventListener("submit", (event) => {
    event.preventDefault();
    rescoreJob(view, event.target);
  });
  document.getElementById("cancel").addEventListener("click", async () => {
    try {
      renderJob(view, await api(`/v1/jobs/${jobId}/cancel`, { method: "POST" }));
    } catch (error) {
      notice("Cancel failed: " + error.message);
    }
  });
  let job;
  try {
    job = await api(`/v1/jobs/${jobId}`);
  } catch (error) {
    notice(error.status === 404 ? `Job ${jobId} does not exist.` : error.message);
    return;
  }
  if (job.parent_id) view.parent = { job: await api(`/v1/jobs/${job.parent_id}`), candidates: null };
  fillForm(document.getElementById("rescore-form"), job.request);
  await update(view, job);
  if (!TERMINAL.includes(job.status)) follow(view);
}

// Server-sent events while the job runs; polling if the stream breaks.
function follow(view) {
  const events = new EventSource(`/v1/jobs/${view.jobId}/events`);
  events.addEventListener("progress", (event) => {
    const job = JSON.parse(event.data);
    if (TERMINAL.includes(job.status)) events.close();
    update(view, job);
  });
  events.onerror = () => {
    events.close();
    poll(view);
  };
}

async function poll(view) {
  try {
    const job = await api(`/v1/jobs/${view.jobId}`);
    await update(view, job);
    if (TERMINAL.includes(job.status)) return;
  } catch (error) {
    notice("Lost contact with the server: " + error.message);
  }
  setTimeout(() => poll(view), 2000);
}

async function update(view, job) {
  view.job = job;
  renderJob(view, job);
  // candidates exist from the end of the search on; re-read them while verification runs
  const final = TERMINAL.includes(job.status);
  const due = Date.now() - view.lastFetch > 2000;
  if (view.fetched !== job.status + job.phase || due || final) {
    view.lastFetch = Date.now();
    view.fetched = job.status + job.phase;
    await loadCandidates(view);
  }
  if (final) await listRescores(view);
}

async function loadCandidates(view) {
  const query = `candidates?tolerance=${view.tolerance}`;
  view.candidates = await api(`/v1/jobs/${view.jobId}/${query}`);
  if (view.parent) view.parent.candidates = await api(`/v1/jobs/${view.parent.job.id}/${query}`);
  renderCandidates(view);
}

function renderJob(view, job) {
  const running = !TERMINAL.includes(job.status);
  const status = document.getElementById("status");
  status.className = "status " + job.status;
  status.textContent = job.status;
  const hardware = job.request.hardware || {};
  const budget = job.request.budget || {};
  document.getElementById("summary").textContent =
    `${job.request.task} on ${chipSummary(view.chip, hardware)}` +
    (hardware.max_tiles ? `, ≤ ${hardware.max_tiles} tiles` : "") +
    ` · ${budget.trials} trials, ${budget.top_k} verified · created ` +
    new Date(job.created_at).toLocaleString();
  const value = Math.round(100 * job.progress);
  const bar = document.getElementById("progress");
  bar.className = "progress " + job.status;
  bar.setAttribute("aria-valuenow", String(value));
  bar.querySelector(".fill").style.width = value + "%";
  document.getElementById("progress-text").textContent =
    `${value} % · ${job.phase}` + (running && job.eta_seconds != null
      ? ` · about ${duration(job.eta_seconds)} left` : "");
  const error = document.getElementById("error");
  error.hidden = !job.error;
  error.textContent = job.error || "";
  document.getElementById("cancel").hidden = !running;
  document.getElementById("request").textContent = JSON.stringify(job.request, null, 2);
  renderSurrogate(job.surrogate);
  const of = document.getElementById("rescore-of");
  of.hidden = !job.rescore;
  if (job.rescore) {
    const parent = element("a", { href: `/jobs/${job.rescore.parent_id}` },
      element("code", {}, job.rescore.parent_id.slice(0, 8)));
    of.replaceChildren("Re-score of job ", parent, `: its ${job.rescore.verified} trained ` +
      "candidates programmed on this chip, without retraining. ", job.rescore.note + ".");
  }
}

// --- the job's surrogate: the active loop's rounds and the model's quality ---------------------
function renderSurrogate(record) {
  const section = document.getElementById("surrogate");
  section.hidden = !record;
  if (!record) return;
  const rounds = record.rounds || [];
  document.getElementById("rounds").hidden = !rounds.length;
  document.querySelector("#rounds tbody").replaceChildren(...rounds.map((r) =>
    element("tr", {},
      element("td", { class: "num" }, String(r.number)),
      element("td", { class: "num" }, String(r.architectures.length)),
      element("td", { class: "num" }, String(r.in_domain_rows)),
      element("td", { class: "num" }, tau(r.prospective_tau)),
      element("td", { class: "num" }, tau(r.prospective_tau_better_half)),
      element("td", { class: "num" }, number(r.seconds)))));
  const quality = record.quality;
  const held = quality?.held_out;
  document.getElementById("surrogate-quality").textContent = quality
    ? `Fitted with ${quality.in_domain_rows} rows of this task and chip (${quality.context}). ` +
      (held ? `On ${held.n} held-out architectures: Kendall tau ${tau(held.accuracy_1d.kendall_tau)}, ` +
        `better half ${tau(held.kendall_tau_better_half)} (parameter count: ` +
        `${tau(held.params_baseline_kendall_tau)}).` : "Too few of its rows to hold some out.")
    : rounds.length ? "Active loop: each round verifies the architectures the surrogate rates " +
      "highest (prediction plus uncertainty) and refits with them." : "";
  drawRounds(rounds);
}

function tau(value) {
  return value == null ? "–" : value.toFixed(2);
}

function drawRounds(rounds) {
  if (!window.Plotly) return;
  const scored = rounds.filter((r) => r.prospective_tau != null);
  const trace = (key, name, color) => ({
    x: scored.map((r) => r.in_domain_rows), y: scored.map((r) => r[key]), name,
    mode: "lines+markers", line: { color }, type: "scatter",
  });
  Plotly.react("rounds-chart", scored.length
    ? [trace("prospective_tau", "all", COLORS[0]), trace("prospective_tau_better_half", "better half", COLORS[1])]
    : [], {
    ...PLOT_LAYOUT,
    xaxis: { title: { text: "rows of this task and chip" }, visible: !!scored.length },
    yaxis: { title: { text: "Kendall tau" }, range: [-1, 1], visible: !!scored.length },
    annotations: scored.length ? [] : [placeholder("appears after the loop's second round")],
  }, PLOT_CONFIG);
}

// --- re-scoring on another chip ----------------------------------------------------------------
async function rescoreJob(view, form) {
  clearErrors();
  const button = document.getElementById("rescore-submit");
  button.disabled = true;
  try {
    const child = await api(`/v1/jobs/${view.jobId}/rescore`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(readForm(form)),
    });
    window.location.href = `/jobs/${child.id}`;
  } catch (error) {
    showErrors(error);
    button.disabled = false;
  }
}

// The form's fields set from a request body (the job's chip, to change one thing of it).
function fillForm(form, body) {
  for (const input of form.querySelectorAll("[data-path]")) {
    const value = input.dataset.path.split(".").reduce((object, key) => object?.[key], body);
    if (value === undefined) continue;
    if (input.dataset.kind === "tristate") input.value = value == null ? "" : String(value);
    else if (input.dataset.kind === "checkbox") input.checked = Boolean(value);
    else input.value = value ?? "";
  }
}

async function listRescores(view) {
  const root = view.job.parent_id || view.jobId;
  try {
    const page = await api(`/v1/jobs?parent=${root}&limit=200`);
    const items = page.items.filter((job) => job.id !== view.jobId).map((job) =>
      element("li", {}, element("a", { href: `/jobs/${job.id}` }, element("code", {}, job.id.slice(0, 8))),
        ` on ${chipSummary(view.chip, job.request.hardware)} `, statusBadge(job.status)));
    document.getElementById("rescores").replaceChildren(...items);
  } catch (error) {
    notice("Could not list the re-scorings: " + error.message);
  }
}

// The chip a job ran on: its preset and tile geometry, then the overrides it gave.
function chipSummary(chip, hardware) {
  const given = chip.overrides.filter((name) => hardware[name] != null).map((name) => {
    const value = hardware[name];
    if (typeof value === "boolean") return `${name} ${value ? "on" : "off"}`;
    return `${name} ${value === 0 && name in chip.zeroMeans ? chip.zeroMeans[name] : value}`;
  });
  return [`${hardware.preset} ${hardware.tile_rows}×${hardware.tile_cols}`, ...given].join(", ");
}

function renderCandidates(view) {
  const candidates = view.candidates;
  document.getElementById("candidates").hidden = !candidates.length;
  document.getElementById("no-candidates").hidden = candidates.length > 0;
  const final = TERMINAL.includes(view.job.status);
  document.getElementById("rescore").hidden = !(final && candidates.some((c) => c.verified));
  const rows = candidates.map((c) => {
    const downloads = c.verified
      ? view.formats.map((format) => element("a", {
        class: "button small", download: "", dataset: { format },
        href: `/v1/architectures/${c.architecture_id}/export?format=${format}&job=${view.jobId}`,
      }, format))
      : [element("span", { class: "help" }, "not verified")];
    const details = element("button", { type: "button", class: "small", dataset: { details: "" } },
      "Details");
    details.addEventListener("click", () => {
      view.selected = c.architecture_id;
      renderCandidateView(view);
      document.getElementById("candidate-view").scrollIntoView({ block: "start" });
    });
    return element("tr", { dataset: { architectureId: c.architecture_id }, class: c.verified ? "verified" : "" },
      element("td", {}, element("code", { title: JSON.stringify(c.architecture) },
        c.architecture_id.slice(0, 10))),
      element("td", { class: "num" }, number(c.tiles)),
      element("td", { class: "num" }, number(c.params)),
      element("td", { class: "num" }, number(c.energy_nj, 1)),
      element("td", { class: "num" }, number(c.latency_us, 2)),
      element("td", { class: "num" }, percent(c.predicted.accuracy_1d), ...(c.measured
        ? [element("span", { class: "help", title: "mean of the surrogate's rows of it at the cheap fidelity: ranked by it" },
          ` measured ${percent(c.measured.accuracy_1d)}`)]
        : [])),
      element("td", { class: "num" }, percent(c.accuracy_1d)),
      element("td", { class: "num" }, c.avm == null ? "–" : percent(c.avm)),
      element("td", { class: "num" }, percent(c.digital_accuracy)),
      element("td", { class: "num" }, c.reprogramming?.mean.label ?? "–"),
      element("td", { class: "num" }, c.reprogramming?.lower_band.label ?? "–"),
      element("td", {}, c.verified ? details : ""),
      element("td", { class: "downloads" }, ...downloads),
    );
  });
  document.querySelector("#candidates tbody").replaceChildren(...rows);
  drawPareto(view);
  drawDrift(view);
  drawComparison(view);
  renderCandidateView(view);
}

// --- one candidate: layer sensitivity, reprogramming interval ---------------------------------
function renderCandidateView(view) {
  const c = view.candidates.find((x) => x.verified && x.architecture_id === view.selected);
  document.getElementById("candidate-view").hidden = !c;
  if (!c) return;
  document.getElementById("candidate-id").textContent = c.architecture_id;
  document.getElementById("candidate-record").href =
    `/v1/architectures/${c.architecture_id}/record?job=${view.jobId}`;
  const timing = c.reprogramming;
  document.getElementById("reprogram-after").textContent = timing
    ? `Reprogram after ${timing.mean.label}: the mean accuracy over chips then falls ` +
      `${view.tolerance} point${view.tolerance === 1 ? "" : "s"} below its 1-second ` +
      `${percent(timing.reference_accuracy)}; ` +
      `mean − 2 std over chips does after ${timing.lower_band.label}.`
    : "Verified before the drift grid to 10 years was measured: re-score the job on the same " +
      "chip to measure it.";
  document.getElementById("keep-digital").textContent = keepDigital(c.sensitivity);
  drawSensitivity(c);
  drawReprogramming(c, view.tolerance);
}

function points(value, digits = 1) {
  return (100 * value).toFixed(digits) + " points";
}

function keepDigital(sensitivity) {
  if (!sensitivity) {
    return "Verified before layer sensitivity was measured: re-score the job on the same chip " +
      "to measure it.";
  }
  const loss = sensitivity.exact_accuracy - sensitivity.analog_accuracy;
  const steps = sensitivity.keep_digital.map((choice) =>
    `keeping ${choice.layers.join(" + ")} digital recovers ${percent(choice.recovered, 0)} ` +
    `(${percent(choice.accuracy)})`);
  return `After 1 day the chip loses ${points(loss)} against the digital network ` +
    `(${percent(sensitivity.analog_accuracy)} vs ${percent(sensitivity.exact_accuracy)}); ` +
    steps.join("; ") + ".";
}

function drawSensitivity(c) {
  if (!window.Plotly) return;
  const layers = [...(c.sensitivity?.layers ?? [])].reverse();  // the first layer on top
  const names = layers.map((layer) => layer.name);
  const bars = (name, color, value, error) => ({
    type: "bar", orientation: "h", name, y: names, x: layers.map((l) => 100 * l[value]),
    marker: { color }, error_x: { type: "data", array: layers.map((l) => 100 * l[error]) },
    hovertemplate: "%{y}: %{x:.2f} points<extra></extra>",
  });
  const traces = layers.length ? [
    bars("drop when only this layer is analog", "#dc2626", "only_analog_drop", "only_analog_drop_se"),
    bars("gain when only this layer is exact", "#059669", "only_exact_gain", "only_exact_gain_se"),
  ] : [];
  const chart = document.getElementById("sensitivity");
  chart.style.height = `${Math.max(360, 120 + 28 * layers.length)}px`;
  const layout = {
    ...PLOT_LAYOUT,
    margin: { ...PLOT_LAYOUT.margin, l: 20 },
    barmode: "group",
    legend: { orientation: "h", y: -0.12 },
    xaxis: { title: { text: "accuracy points after 1 day (± s.e.)" }, visible: !!traces.length },
    yaxis: { automargin: true, visible: !!traces.length },
    annotations: traces.length ? [] : [placeholder("not measured for this candidate")],
  };
  Plotly.react(chart, traces, layout, PLOT_CONFIG);
}

function drawReprogramming(c, tolerance) {
  if (!window.Plotly) return;
  const grid = c.drift;
  const t = grid.map((p) => p.time_seconds);
  const timing = c.reprogramming;
  const traces = grid.length ? [
    { x: t, y: grid.map((p) => p.mean), mode: "lines+markers", name: "mean over chips",
      line: { color: "#2563eb" }, type: "scatter" },
    { x: t, y: grid.map((p) => p.mean - 2 * p.std), mode: "lines", name: "mean − 2 std",
      line: { color: "#2563eb", dash: "dot" }, type: "scatter" },
    { x: [t[0], t.at(-1)], y: [timing.threshold, timing.threshold], mode: "lines",
      name: `1 s accuracy − ${tolerance} points`, line: { color: "#dc2626", dash: "dash" },
      type: "scatter" },
  ] : [];
  const marks = timing ? [timing.mean, timing.lower_band].filter((i) => i.seconds != null) : [];
  const layout = {
    ...PLOT_LAYOUT,
    xaxis: driftAxis(traces.length, true),
    yaxis: { title: { text: "accuracy" }, tickformat: ".1%", visible: !!traces.length },
    shapes: marks.map((interval) => ({
      type: "line", x0: interval.seconds, x1: interval.seconds, yref: "paper", y0: 0, y1: 1,
      line: { color: "#dc2626", width: 1 },
    })),
    annotations: traces.length ? [] : [placeholder("not measured for this candidate")],
  };
  Plotly.react("reprogramming", traces, layout, PLOT_CONFIG);
}

// --- a re-scoring beside the job it re-scores ---------------------------------------------------
function drawComparison(view) {
  document.getElementById("comparison").hidden = !view.parent;
  if (!view.parent || !window.Plotly) return;
  document.getElementById("parent-chip").textContent =
    chipSummary(view.chip, view.parent.job.request.hardware);
  const before = new Map(view.parent.candidates.filter((c) => c.verified)
    .map((c) => [c.architecture_id, c]));
  const after = view.candidates.filter((c) => c.verified);
  const curves = [];
  after.forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    const pairs = [[before.get(c.architecture_id), "dash", "job's chip"], [c, "solid", "this chip"]];
    for (const [candidate, dash, chip] of pairs) {
      if (!candidate) continue;
      curves.push({
        x: candidate.accuracy.map((p) => p.time_seconds), y: candidate.accuracy.map((p) => p.mean),
        mode: "lines+markers", type: "scatter", name: `${shortId(c)} · ${chip}`,
        legendgroup: shortId(c), line: { color, dash }, marker: { color, size: 6 },
        hovertemplate: `${shortId(c)} · ${chip}<br>%{x:.3s} s: %{y:.2%}<extra></extra>`,
      });
    }
  });
  Plotly.react("compare-drift", curves, {
    ...PLOT_LAYOUT,
    xaxis: driftAxis(curves.length, false),
    yaxis: { title: { text: "accuracy (mean over chips)" }, tickformat: ".1%" },
  }, PLOT_CONFIG);
  const predicted = (candidates) => candidates.filter((c) => c.predicted.accuracy_1d != null);
  const moves = after.filter((c) => before.has(c.architecture_id)).flatMap((c) => {
    const old = before.get(c.architecture_id);
    return [[old.tiles, old.accuracy_1d], [c.tiles, c.accuracy_1d], [null, null]];
  });
  const front = [
    { name: "predicted, job's chip", candidates: predicted(view.parent.candidates),
      y: (c) => c.predicted.accuracy_1d, marker: { color: "#cbd5e1", size: 8 } },
    { name: "predicted, this chip", candidates: predicted(view.candidates),
      y: (c) => c.predicted.accuracy_1d, marker: { color: "#93c5fd", size: 8 } },
    { name: "verified, job's chip", candidates: [...before.values()], y: (c) => c.accuracy_1d,
      marker: { color: "#fff", size: 11, symbol: "diamond", line: { color: "#1e3a8a", width: 2 } } },
    { name: "verified, this chip", candidates: after, y: (c) => c.accuracy_1d,
      marker: { color: "#2563eb", size: 12, symbol: "diamond", line: { color: "#1e3a8a", width: 1 } } },
  ].filter((trace) => trace.candidates.length).map((trace) => ({
    name: trace.name, type: "scatter", mode: "markers", marker: trace.marker,
    x: trace.candidates.map((c) => c.tiles), y: trace.candidates.map(trace.y),
    text: trace.candidates.map(shortId), hovertemplate: "%{text}<br>%{x} tiles: %{y:.2%}<extra></extra>",
  }));
  const shifts = { name: "shift", type: "scatter", mode: "lines", hoverinfo: "skip",
    x: moves.map((p) => p[0]), y: moves.map((p) => p[1]), line: { color: "#94a3b8", width: 1 } };
  Plotly.react("compare-front", [shifts, ...front], {
    ...PLOT_LAYOUT,
    xaxis: { title: { text: "tiles" }, zeroline: false },
    yaxis: { title: { text: "accuracy after 1 day" }, tickformat: ".1%" },
  }, PLOT_CONFIG);
}

const PLOT_LAYOUT = {
  margin: { l: 60, r: 20, t: 10, b: 50 },
  legend: { orientation: "h", y: -0.25 },
  font: { family: "system-ui, sans-serif", size: 12 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "#fff",
};
const PLOT_CONFIG = { responsive: true, displaylogo: false };
const AXIS_TITLES = { tiles: "tiles", energy_nj: "energy per inference (nJ)", latency_us: "latency (µs)" };

function shortId(c) {
  return c.architecture_id.slice(0, 10);
}

function drawPareto(view) {
  if (!window.Plotly) return;
  const x = (c) => c[view.axis];
  const predicted = view.candidates;
  const verified = predicted.filter((c) => c.verified);
  const traces = [
    {
      name: "predicted (surrogate)", mode: "markers", type: "scatter",
      x: predicted.map(x), y: predicted.map((c) => c.predicted.accuracy_1d),
      text: predicted.map(shortId),
      marker: { color: "#94a3b8", size: 9, symbol: "circle" },
      hovertemplate: "%{text}<br>%{x}<br>predicted %{y:.2%}<extra></extra>",
    },
    {
      name: "verified (simulated chips, ± std)", mode: "markers", type: "scatter",
      x: verified.map(x), y: verified.map((c) => c.accuracy_1d),
      text: verified.map(shortId),
      error_y: { type: "data", array: verified.map((c) => oneDay(c)?.std ?? 0), visible: true },
      marker: { color: "#2563eb", size: 12, symbol: "diamond", line: { color: "#1e3a8a", width: 1 } },
      hovertemplate: "%{text}<br>%{x}<br>verified %{y:.2%}<extra></extra>",
    },
  ];
  const layout = {
    ...PLOT_LAYOUT,
    xaxis: { title: { text: AXIS_TITLES[view.axis] }, zeroline: false, visible: !!predicted.length },
    yaxis: { title: { text: "accuracy after 1 day" }, tickformat: ".1%", visible: !!predicted.length },
    annotations: predicted.length ? [] : [placeholder("the front appears when the search ends")],
  };
  Plotly.react("pareto", traces, layout, PLOT_CONFIG);
}

function oneDay(candidate) {
  return candidate.accuracy.find((point) => point.time_seconds === 86400);
}

function drawDrift(view) {
  if (!window.Plotly) return;
  const traces = [];
  view.candidates.filter((c) => c.verified).forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    const points = c.accuracy.filter((p) => p.time_seconds > 0);
    const t = points.map((p) => p.time_seconds);
    const group = shortId(c);
    traces.push(
      { x: t, y: points.map((p) => p.mean + p.std), mode: "lines", line: { width: 0 },
        legendgroup: group, showlegend: false, hoverinfo: "skip", type: "scatter" },
      { x: t, y: points.map((p) => p.mean - p.std), mode: "lines", line: { width: 0 },
        fill: "tonexty", fillcolor: hexToRgba(color, 0.15), legendgroup: group,
        showlegend: false, hoverinfo: "skip", type: "scatter" },
      { x: t, y: points.map((p) => p.mean), mode: "lines+markers", name: group,
        legendgroup: group, line: { color }, marker: { color, size: 7 }, type: "scatter",
        customdata: points.map((p) => p.std),
        hovertemplate: `${group}<br>%{x:.3s} s: %{y:.2%} ± %{customdata:.2%}<extra></extra>` },
    );
  });
  const layout = {
    ...PLOT_LAYOUT,
    xaxis: driftAxis(traces.length, false),
    yaxis: { title: { text: "accuracy (mean ± std over chips)" }, tickformat: ".1%",
      visible: !!traces.length },
    annotations: traces.length ? [] : [placeholder("curves appear as candidates are verified")],
  };
  Plotly.react("drift", traces, layout, PLOT_CONFIG);
}

// Log time after programming, to a year (or to ten years: the reprogramming grid).
function driftAxis(visible, tenYears) {
  const ticks = Object.keys(DRIFT_TICKS).map(Number).filter((t) => tenYears || t < 3e8);
  return { type: "log", title: { text: "time after programming" }, tickvals: ticks,
    ticktext: ticks.map((t) => DRIFT_TICKS[t]), range: [-0.3, tenYears ? 8.8 : 7.7],
    visible: !!visible };
}

function placeholder(text) {
  return { text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
    font: { color: "#64748b", size: 14 } };
}

function hexToRgba(hex, alpha) {
  const value = parseInt(hex.slice(1), 16);
  return `rgba(${value >> 16}, ${(value >> 8) & 255}, ${value & 255}, ${alpha})`;
}

// --- start -------------------------------------------------------------------------------------
const PAGES = { jobs: jobsPage, new: newJobPage, job: jobPage };

document.addEventListener("DOMContentLoaded", () => {
  setupKeyForm();
  PAGES[document.body.dataset.page]?.();
});

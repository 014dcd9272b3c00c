// The studio page: plain fetch() calls to the JSON API, no framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
let compareToken = null;

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function postJSON(path, payload) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
}

function figure(image, index, side, token, caption) {
  const fig = document.createElement("figure");
  const img = document.createElement("img");
  img.src = `data:image/png;base64,${image.png}`;
  img.alt = `${caption} (seed ${image.seed})`;
  img.dataset.seed = image.seed;
  fig.append(img);
  const foot = document.createElement("figcaption");
  const seed = document.createElement("span");
  seed.textContent = `seed ${image.seed}`;
  const download = document.createElement("a");
  download.href = img.src;
  download.download = `t2igan-${image.seed}.png`;
  download.textContent = "⤓";
  download.title = "download";
  foot.append(seed, download);
  for (const [label, up] of [["▲ good", true], ["▼ bad", false]]) {
    const button = document.createElement("button");
    button.textContent = label;
    button.className = up ? "thumb-up" : "thumb-down";
    button.type = "button";
    button.title = up ? "thumbs up: fits the caption" : "thumbs down: does not fit the caption";
    button.onclick = async () => {
      try {
        await postJSON("/api/thumb", { token, side, index, up });
        button.classList.add("chosen");
        foot.querySelectorAll("button").forEach((b) => (b.disabled = true));
        showError("");
      } catch (error) {
        showError(error.message);
      }
    };
    foot.append(button);
  }
  fig.append(foot);
  return fig;
}

function numberOrNull(value) {
  return value === "" ? null : Number(value);
}

$("truncation").oninput = () => {
  const t = Number($("truncation").value);
  $("truncation-value").textContent = t === 0 ? "off" : t.toFixed(1);
};

$("try-form").onsubmit = async (event) => {
  event.preventDefault();
  const caption = $("caption").value;
  const truncation = Number($("truncation").value);
  try {
    const result = await postJSON("/api/generate", {
      caption,
      num_images: Number($("num-images").value),
      seed: numberOrNull($("seed").value),
      truncation: truncation === 0 ? null : truncation,
    });
    const grid = $("images");
    grid.replaceChildren(...result.images.map((image, i) => figure(image, i, "single", result.token, caption)));
    $("try-meta").textContent = `version ${result.version} (@champion)`;
    showError("");
  } catch (error) {
    showError(error.message);
  }
};

function setVoting(enabled) {
  for (const id of ["vote-left", "vote-right", "vote-both-bad"]) $(id).disabled = !enabled;
}

$("compare-form").onsubmit = async (event) => {
  event.preventDefault();
  const caption = $("compare-caption").value;
  try {
    const result = await postJSON("/api/compare", { caption, num_images: Number($("compare-num-images").value) });
    compareToken = result.token;
    $("left").replaceChildren(...result.left.map((image, i) => figure(image, i, "left", result.token, caption)));
    $("right").replaceChildren(...result.right.map((image, i) => figure(image, i, "right", result.token, caption)));
    $("vote-status").textContent = "";
    setVoting(true);
    showError("");
  } catch (error) {
    showError(error.message);
  }
};

async function vote(choice) {
  if (!compareToken) return;
  setVoting(false);
  try {
    const result = await postJSON("/api/vote", { token: compareToken, choice });
    compareToken = null;
    const { left, right } = result.versions;
    $("vote-status").textContent = `Thanks: vote recorded (left was version ${left}, right was version ${right}).`;
    showError("");
  } catch (error) {
    showError(error.message);
    setVoting(true);
  }
}
$("vote-left").onclick = () => vote("left");
$("vote-right").onclick = () => vote("right");
$("vote-both-bad").onclick = () => vote("both_bad");

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function loadRegistry() {
  try {
    const view = await api("/api/registry");
    const rows = view.versions.map((v) => {
      const tr = document.createElement("tr");
      tr.dataset.version = v.version;
      const aliases = document.createElement("td");
      for (const alias of v.aliases) {
        const tag = document.createElement("span");
        tag.className = "alias";
        tag.textContent = `@${alias}`;
        aliases.append(tag);
      }
      const reading = v.win_rate || v.feedback;
      const rate = reading && reading.decided
        ? `${reading.rate.toFixed(2)} [${reading.low.toFixed(2)}, ${reading.high.toFixed(2)}] of ${reading.decided} votes`
          + (v.win_rate ? "" : ` (vs version ${reading.other})`)
        : v.win_rate ? "no votes yet" : "";
      const waiting = v.awaiting_votes ? ` (waiting for votes: ${v.win_rate ? v.win_rate.decided : 0} of ${v.min_votes})` : "";
      tr.append(
        cell(v.version), aliases,
        cell(v.fid == null ? "" : `${v.fid.toFixed(2)} (${v.fid_name})`),
        cell(v.alignment == null ? "" : v.alignment.toFixed(3)),
        cell(v.diversity == null ? "" : v.diversity.toFixed(3)),
        cell(Object.entries(v.beyond_inception || {}).map(([k, x]) => `${k} ${x.toFixed(2)}`).join(", ")),
        cell(rate), cell((v.decision || "") + waiting),
      );
      return tr;
    });
    $("versions").querySelector("tbody").replaceChildren(...rows);
    $("history").replaceChildren(...view.history.map((h) => {
      const li = document.createElement("li");
      li.textContent = `${h.since}: version ${h.version} became @champion${h.replaced ? ` (replacing ${h.replaced})` : ""}: ${h.reason}`;
      return li;
    }));
    showError("");
  } catch (error) {
    showError(error.message);
  }
}

$("describe-form").onsubmit = async (event) => {
  event.preventDefault();
  const form = new FormData();
  form.append("image", $("describe-file").files[0]);
  try {
    const result = await api("/api/describe", { method: "POST", body: form });
    $("matches").replaceChildren(...result.matches.map((m) => {
      const li = document.createElement("li");
      li.textContent = `${m.score.toFixed(3)}  ${m.caption}`;
      return li;
    }));
    showError("");
  } catch (error) {
    showError(error.message);
  }
};

for (const tab of document.querySelectorAll(".tab")) {
  tab.onclick = () => {
    for (const other of document.querySelectorAll(".tab")) other.classList.toggle("active", other === tab);
    for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== tab.dataset.tab;
    showError("");
    if (tab.dataset.tab === "registry") loadRegistry();
  };
}

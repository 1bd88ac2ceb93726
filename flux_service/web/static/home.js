// The playground on the home page: streams a chat answer from this service and shows the
// image. The API key stays in this browser's localStorage and leaves it only in the
// Authorization header of this service's own API.

const KEY_STORAGE = "flux.apiKey";
const RECENT_STORAGE = "flux.recent";
const RECENT_LIMIT = 8;
// The image line of an answer: ![description](https://host/image/key)
const IMAGE = /!\[[^\]]*\]\((https?:\/\/\S+)\)/;
// The answer's model line, in any language: "- 🤖 Model: flux-2-klein-4b"
const MODEL_LINE = /^- 🤖 [^:：]+[:：]\s*(\S+)/m;
// A ratio or size as the prompt's last word, as the service reads it (prompt.py).
const RATIO_AT_END = /(?:^|[\s,，])(\d{1,2})\s*[:：]\s*(\d{1,2})\s*$/;
const SIZE_AT_END = /(?:^|[\s,，])(\d{2,5})\s*[xX×*]\s*(\d{2,5})\s*$/;

const $ = (id) => document.getElementById(id);
const form = $("playground");
const expirationSeconds = Number(form.dataset.expiration);
const sides = [Number(form.dataset.minSide), Number(form.dataset.maxSide)];
let shown = null; // the image on display: { url, prompt, expires }
let stripSize = 0; // how many images the recent strip shows
let picked = null; // the image to change: a File, or null
let pickedUrl = null; // its blob: URL, for the previews

// A failed generation: what the service said, and what it means for the person.
class Problem extends Error {
  constructor(message, { status = 0, code = null, retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

function start() {
  const key = $("key");
  key.value = localStorage.getItem(KEY_STORAGE) ?? "";
  key.addEventListener("input", () => {
    if (key.value.trim()) localStorage.setItem(KEY_STORAGE, key.value.trim());
    else localStorage.removeItem(KEY_STORAGE);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    generate();
  });
  $("image").addEventListener("load", () => {
    $("generated").hidden = false;
  });
  $("image").addEventListener("error", () => {
    $("generated").hidden = true;
    if (shown) {
      const gone = "This image has expired or cannot be loaded.";
      showProblem(new Problem(gone, { code: "image_not_found" }));
    }
  });
  $("picture").addEventListener("change", () => pick($("picture").files[0] ?? null));
  $("picture-clear").addEventListener("click", () => pick(null));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = [...event.dataTransfer.files].find((f) => f.type.startsWith("image/"));
    if (file) pick(file);
  });
  renderRecent();
  setInterval(tick, 1000);
}

// Choose the image to change (or none), and show it in the form.
function pick(file) {
  if (pickedUrl) URL.revokeObjectURL(pickedUrl);
  picked = file;
  pickedUrl = file ? URL.createObjectURL(file) : null;
  if (!file) $("picture").value = "";
  $("picked").hidden = !file;
  if (file) $("picked-image").src = pickedUrl;
  else $("picked-image").removeAttribute("src");
}

// A file as a data: URI, the way chat apps attach images.
function dataUri(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Problem("The image could not be read."));
    reader.readAsDataURL(file);
  });
}

async function generate() {
  const key = $("key").value.trim();
  const prompt = $("prompt").value.trim();
  // The service reads the size from the prompt's last word: the menu's ratio goes there,
  // unless the prompt ends with its own.
  const ratio = $("ratio").value;
  const content = ratio && !sizedByItself(prompt) ? `${prompt} ${ratio}` : prompt;
  clearResult();
  $("generate").disabled = true;
  $("generate").textContent = "Generating…";
  const source = picked;
  try {
    // With an image, the message is the chat apps' shape: text and an image_url part.
    const message = picked
      ? [
          { type: "text", text: content },
          { type: "image_url", image_url: { url: await dataUri(picked) } },
        ]
      : content;
    const body = {
      model: $("model").value,
      messages: [{ role: "user", content: message }],
      stream: true,
    };
    const response = await post(body, key);
    if (!response.ok) throw await problemOf(response);
    const answer = await readAnswer(response);
    const url = answer.match(IMAGE)?.[1];
    if (!url) throw new Problem("The answer held no image.");
    const entry = { url, prompt, expires: Date.now() + expirationSeconds * 1000 };
    remember(entry);
    show(entry);
    if (source) showSource(source, answer.match(MODEL_LINE)?.[1]);
  } catch (error) {
    showProblem(error);
  } finally {
    $("generate").disabled = false;
    $("generate").textContent = "Generate";
  }
}

// Whether the prompt ends with a ratio or size the service takes ("at 10:30" does not count).
function sizedByItself(prompt) {
  const ratios = [...$("ratio").options].map((option) => option.value).filter(Boolean);
  const ratio = prompt.match(RATIO_AT_END);
  if (ratio && ratios.includes(`${Number(ratio[1])}:${Number(ratio[2])}`)) return true;
  const size = prompt.match(SIZE_AT_END);
  const [low, high] = sides;
  return Boolean(size) && [size[1], size[2]].every((side) => low <= +side && +side <= high);
}

async function post(body, key) {
  const headers = { "Content-Type": "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  try {
    return await fetch(form.dataset.endpoint, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
  } catch {
    throw new Problem("The service could not be reached.");
  }
}

// The error of a refused request, from its OpenAI-shaped body {"error": {message, code}}.
async function problemOf(response) {
  const body = await response.json().catch(() => null);
  return new Problem(body?.error?.message ?? `HTTP ${response.status}`, {
    status: response.status,
    code: body?.error?.code,
    retryAfter: response.headers.get("Retry-After"),
  });
}

// Reads the Server-Sent Events, showing the answer as it grows; returns the whole answer.
async function readAnswer(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let answer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Problem("The answer stopped before it was complete.");
    buffer += value;
    const events = buffer.split("\n\n");
    buffer = events.pop();
    for (const event of events) {
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice("data: ".length))
        .join("\n");
      if (!data) continue; // a ": keep-alive" comment
      if (data === "[DONE]") return answer;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Problem(chunk.error.message, { code: chunk.error.code });
      answer += chunk.choices?.[0]?.delta?.content ?? "";
      $("answer").textContent = readable(answer);
    }
  }
}

// The markdown answer as plain text: the image is shown below it, not as a link.
function readable(markdown) {
  return markdown.replace(IMAGE, "").replace(/\\([\\`*_[\]<>#|~])/g, "$1").trim();
}

function clearResult() {
  shown = null;
  $("result").hidden = false;
  $("answer").textContent = "";
  $("problem").hidden = true;
  $("generated").hidden = true;
  $("image").removeAttribute("src");
  $("source").hidden = true;
  const before = $("source-image").src;
  if (before.startsWith("blob:")) URL.revokeObjectURL(before);
  $("source-image").removeAttribute("src");
  $("edited-by").hidden = true;
}

// The image an edit started from, beside the result, and the model that changed it.
function showSource(file, model) {
  $("source-image").src = URL.createObjectURL(file);
  $("source").hidden = false;
  if (model) {
    $("edited-by").textContent = `Edited by ${model}`;
    $("edited-by").hidden = false;
  }
}

function showProblem(error) {
  const problem = error instanceof Problem ? error : new Problem(String(error));
  $("result").hidden = false;
  $("problem-friendly").textContent = advice(problem);
  $("problem-message").textContent = problem.message;
  $("problem").hidden = false;
}

// What a failure means, by HTTP status, or by error code when the stream failed midway.
function advice({ status, code, retryAfter }) {
  const later = retryAfter ? `Try again in ${retryAfter} s.` : "Try again in a moment.";
  if (status === 401 || code === "invalid_api_key" || code === "missing_api_key") {
    return "The API key is missing or wrong. Check the key above.";
  }
  if (status === 429 || code === "rate_limit_exceeded") {
    return `Too many images for now. ${later}`;
  }
  if (status === 503 || code === "server_is_overloaded" || code === "store_unavailable") {
    return `The service is busy and made nothing. ${later}`;
  }
  if (status === 502 || status === 504 || code === "upstream_error" || code === "upstream_timeout") {
    return "The image model failed, so there is no image. Try again, or pick another model.";
  }
  if (code === "image_not_found") return "Images are kept only for a while. Generate it again.";
  if (code === "no_edit_model") return "This server offers no model that changes images.";
  if (["invalid_image", "image_too_large", "too_many_images"].includes(code)) {
    return "The image could not be used. Try another one (PNG, JPEG, WebP or GIF).";
  }
  if (status === 400) {
    return "The service could not use this request. Change the prompt and try again.";
  }
  return "The image could not be made.";
}

function show(entry) {
  shown = entry;
  $("result").hidden = false;
  $("problem").hidden = true;
  $("image").alt = entry.prompt;
  $("image").src = entry.url;
  $("download").href = entry.url;
  tick();
}

// Once a second: the countdown of the image on display, and the recent strip pruned.
function tick() {
  if (shown) {
    const left = shown.expires - Date.now();
    $("countdown").textContent = left > 0 ? `Expires in ${clock(left)}` : "Expired";
    $("download").hidden = left <= 0;
  }
  if (recent().length !== stripSize) renderRecent();
}

function clock(milliseconds) {
  const seconds = Math.ceil(milliseconds / 1000);
  const pad = (n) => String(n).padStart(2, "0");
  const [hours, minutes] = [Math.floor(seconds / 3600), Math.floor((seconds % 3600) / 60)];
  const rest = `${pad(minutes)}:${pad(seconds % 60)}`;
  return hours ? `${hours}:${rest}` : rest;
}

// The images made in this browser that are still kept, newest first.
function recent() {
  try {
    const entries = JSON.parse(localStorage.getItem(RECENT_STORAGE) ?? "[]");
    return entries.filter((entry) => entry.expires > Date.now() && /^https?:\/\//.test(entry.url));
  } catch {
    return [];
  }
}

function remember(entry) {
  const kept = [entry, ...recent().filter((other) => other.url !== entry.url)];
  localStorage.setItem(RECENT_STORAGE, JSON.stringify(kept.slice(0, RECENT_LIMIT)));
  renderRecent();
}

function renderRecent() {
  const entries = recent();
  localStorage.setItem(RECENT_STORAGE, JSON.stringify(entries));
  $("recent").replaceChildren(
    ...entries.map((entry) => {
      const image = document.createElement("img");
      image.src = entry.url;
      image.alt = entry.prompt;
      image.loading = "lazy";
      const button = document.createElement("button");
      button.type = "button";
      button.title = entry.prompt;
      button.addEventListener("click", () => {
        clearResult();
        show(entry);
      });
      button.append(image);
      const item = document.createElement("li");
      item.append(button);
      return item;
    }),
  );
  stripSize = entries.length;
  $("recent-section").hidden = stripSize === 0;
}

start();

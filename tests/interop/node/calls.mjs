// Makes one call with the openai Node SDK and prints what the SDK gave back, as JSON: the
// same calls as ../openai_calls.py makes with the Python SDK, checked by the same tests.
// Usage: node calls.mjs <base URL ending in /v1> <API key> <call> <folder of pictures>
import fs from "node:fs";
import path from "node:path";
import OpenAI, { toFile } from "openai";

const [baseURL, apiKey, call, folder] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const messages = [{ role: "user", content: "a lighthouse at dusk 16:9" }];

const file = (name) =>
  toFile(fs.createReadStream(path.join(folder, name)), name, { type: "image/png" });
const all = async (stream) => {
  const items = [];
  for await (const item of stream) items.push(item);
  return items;
};

const calls = {
  chat: () => client.chat.completions.create({ model: "flux", messages }),
  "chat-stream": async () =>
    all(
      await client.chat.completions.create({
        model: "flux",
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    ),
  "chat-n": () => client.chat.completions.create({ model: "flux", messages, n: 2 }),
  generate: () => client.images.generate({ model: "flux", prompt: "a red fox", size: "512x512" }),
  "generate-gpt-image": () =>
    client.images.generate({ model: "gpt-image-1", prompt: "a paper boat", size: "1536x1024" }),
  "generate-stream": async () =>
    all(await client.images.generate({ model: "gpt-image-1", prompt: "a paper boat", stream: true })),
  edit: async () =>
    client.images.edit({ image: await file("picture.png"), prompt: "add a red balloon" }),
  "edit-several": async () =>
    client.images.edit({
      image: [await file("picture.png"), await file("other.png")],
      prompt: "the two together",
    }),
  "edit-mask": async () =>
    client.images.edit({
      image: await file("picture.png"),
      mask: await file("mask.png"),
      prompt: "a moon",
    }),
  "edit-stream": async () =>
    all(
      await client.images.edit({
        image: await file("picture.png"),
        prompt: "add a red balloon",
        stream: true,
      }),
    ),
  responses: () => client.responses.create({ model: "flux", input: "a red fox" }),
  "responses-tool": () =>
    client.responses.create({
      model: "flux",
      input: "a red fox",
      tools: [{ type: "image_generation" }],
    }),
  "responses-stream": () => all(client.responses.stream({ model: "flux", input: "a red fox" })),
};

process.stdout.write(JSON.stringify(await calls[call]()));

// Drives the service with the official openai Node SDK, as LobeChat and Cherry Studio do,
// and prints what it saw as one JSON object for tests/e2e/test_node_sdk.py to check.
// Usage: node clients.mjs <base URL ending in /v1> <API key>
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });

const stream = await client.chat.completions.create({
  model: "flux-1-schnell",
  stream: true,
  stream_options: { include_usage: true },
  messages: [{ role: "user", content: [{ type: "text", text: "a red fox in deep snow 16:9" }] }],
});
const chat = { content: "", roles: [], finish: null, usage: null, chunks: 0 };
for await (const chunk of stream) {
  chat.chunks += 1;
  if (chunk.usage) chat.usage = chunk.usage;
  const choice = chunk.choices[0];
  if (!choice) continue;
  if (choice.delta.role) chat.roles.push(choice.delta.role);
  chat.content += choice.delta.content ?? "";
  if (choice.finish_reason) chat.finish = choice.finish_reason;
}

const urls = await client.images.generate({
  prompt: "a lighthouse at dusk",
  size: "768x512",
  n: 2,
  response_format: "url",
});
const inline = await client.images.generate({
  model: "gpt-image-1",
  prompt: "a paper boat on a puddle",
  size: "512x512",
});

let refused = null;
try {
  await new OpenAI({ baseURL, apiKey: "a-wrong-key", maxRetries: 0 }).models.list();
} catch (error) {
  refused = { status: error.status, message: error.message };
}

const models = (await client.models.list()).data.map((model) => model.id);

console.log(JSON.stringify({
  chat,
  urls: urls.data.map((item) => item.url),
  inline: inline.data.map((item) => item.b64_json),
  refused,
  models,
}));

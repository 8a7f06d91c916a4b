// The Vercel AI SDK as an application uses it, pointed at the gateway.
// Usage: node ai_sdk_client.mjs CASE BASE_URL PROMPT
// Prints one JSON object with what the SDK returned; exits non-zero when the SDK throws.
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";

const [caseName, baseURL, prompt] = process.argv.slice(2);
const MODEL = process.env.AI_SDK_MODEL ?? "qwen3-max";

const openai = createOpenAI({ baseURL: `${baseURL}/v1`, apiKey: "sk-any" });
const anthropic = createAnthropic({ baseURL: `${baseURL}/v1`, apiKey: "sk-any" });

/** The default `openai(model)` speaks the Responses API; `.chat(model)` speaks chat completions. */
function model(kind) {
  if (kind === "responses") return openai(MODEL);
  if (kind === "chat") return openai.chat(MODEL);
  if (kind === "anthropic") return anthropic(MODEL);
  throw new Error(`unknown model kind ${kind}`);
}

async function generate(kind) {
  const result = await generateText({ model: model(kind), prompt, maxRetries: 0 });
  return { text: result.text, finishReason: result.finishReason, usage: result.usage };
}

async function stream(kind) {
  const result = streamText({ model: model(kind), prompt, maxRetries: 0, onError: ({ error }) => { throw error; } });
  const pieces = [];
  for await (const piece of result.textStream) pieces.push(piece);
  return { pieces, text: await result.text, finishReason: await result.finishReason, usage: await result.usage };
}

/** One tool round trip: the model calls get_weather, the SDK runs it and sends the result back. */
async function tools(kind) {
  const calls = [];
  const getWeather = tool({
    description: "Current weather for a city",
    inputSchema: jsonSchema({
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false,
    }),
    execute: async (input) => {
      calls.push(input);
      return { city: input.city, sky: "sunny", celsius: 21 };
    },
  });
  const result = await generateText({
    model: model(kind),
    prompt,
    tools: { get_weather: getWeather },
    stopWhen: stepCountIs(3),
    maxRetries: 0,
  });
  return {
    text: result.text,
    finishReason: result.finishReason,
    executed: calls,
    steps: result.steps.map((step) => ({
      finishReason: step.finishReason,
      toolCalls: step.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input })),
    })),
  };
}

/** Structured output: the SDK sends the schema and validates the object it gets back (it throws if invalid). */
async function object(kind) {
  const result = await generateObject({
    model: model(kind),
    prompt,
    maxRetries: 0,
    schema: jsonSchema({
      type: "object",
      properties: {
        name: { type: "string" },
        age: { type: "integer" },
        city: { type: "string" },
        hobbies: { type: "array", items: { type: "string" } },
      },
      required: ["name", "age", "city", "hobbies"],
      additionalProperties: false,
    }),
  });
  return { object: result.object, finishReason: result.finishReason };
}

const CASES = {
  "responses-generate": () => generate("responses"),
  "responses-stream": () => stream("responses"),
  "responses-tools": () => tools("responses"),
  "chat-generate": () => generate("chat"),
  "chat-stream": () => stream("chat"),
  "chat-tools": () => tools("chat"),
  "anthropic-generate": () => generate("anthropic"),
  "anthropic-stream": () => stream("anthropic"),
  "anthropic-tools": () => tools("anthropic"),
  "responses-object": () => object("responses"),
  "chat-object": () => object("chat"),
  "anthropic-object": () => object("anthropic"),
};

const run = CASES[caseName];
if (!run) {
  console.error(`unknown case ${caseName}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await run()));
} catch (error) {
  console.error(error?.stack ?? String(error));
  if (error?.responseBody) console.error(`response body: ${error.responseBody}`);
  process.exit(1);
}

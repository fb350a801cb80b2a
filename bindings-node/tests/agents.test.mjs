// An agent framework's own loop calling a connector's tools: the Vercel AI SDK (`ai`) with its
// mock language model (no model service). The model asks for `github_issues_list`; the SDK's
// loop runs the tool, which executes against the fake upstream, and hands the bounded result
// (or the typed error) back to the model.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { generateText, jsonSchema, stepCountIs, tool } from 'ai';
import { MockLanguageModelV2 } from 'ai/test';
import * as sb from 'switchboard-connectors';
import { creds, startFake } from './helpers.mjs';

const fake = await startFake();
beforeEach(() => fake.reset());

/** The connector's operation tools as AI SDK tools: what a tool hands the model is the bounded
 * result, or the typed error to act on. */
function tools(connector) {
  const out = {};
  for (const t of connector.operationTools('openai')) {
    const { name, description, parameters } = t.function;
    const [entity, action] = connector.findOperationTool(name);
    out[name] = tool({
      description,
      inputSchema: jsonSchema(parameters),
      execute: async (input) => {
        try {
          return (await connector.execute(entity, action, input)).toToolOutput(4000);
        } catch (e) {
          if (!(e instanceof sb.SwitchboardError)) throw e;
          return JSON.stringify({ error: { code: e.code, message: e.message } });
        }
      },
    });
  }
  return out;
}

const usage = { inputTokens: 1, outputTokens: 1, totalTokens: 2 };
const callTool = (toolName, input) => ({
  content: [{ type: 'tool-call', toolCallId: 'call-1', toolName, input: JSON.stringify(input) }],
  finishReason: 'tool-calls', usage, warnings: [],
});
const answer = (text) => ({ content: [{ type: 'text', text }], finishReason: 'stop', usage, warnings: [] });

/** The tool result the model was shown on its second turn. */
function toolResult(model) {
  const messages = model.doGenerateCalls[1].prompt;
  const part = messages.find((m) => m.role === 'tool').content[0];
  assert.equal(part.toolName, model.doGenerateCalls[0].tools.find((t) => t.name === part.toolName).name);
  return JSON.parse(part.output.value);
}

test('a tool call runs through the AI SDK loop against the fake upstream', async () => {
  const gh = new sb.GithubConnector({ credentials: { personal_access_token: creds.github }, config: { base_url: fake.base('github') } });
  const model = new MockLanguageModelV2({
    doGenerate: [callTool('github_issues_list', { owner: 'octo', repo: 'hello', per_page: 2 }), answer('Two open issues.')],
  });
  const result = await generateText({ model, tools: tools(gh), stopWhen: stepCountIs(3), prompt: 'What are the latest issues in octo/hello?' });
  assert.equal(result.text, 'Two open issues.');
  assert.equal(model.doGenerateCalls.length, 2);
  assert.ok(model.doGenerateCalls[0].tools.some((t) => t.name === 'github_issues_list'));
  const shown = toolResult(model);
  assert.deepEqual(shown.data.map((i) => i.number), [5, 4]);
  assert.equal(shown.meta.has_next_page, true);
  const sent = await fake.requests('github');
  assert.equal(sent.length, 1);
  assert.equal(sent[0].path, '/github/graphql');
});

test('a bad tool call gives the model the typed error and sends nothing upstream', async () => {
  const st = new sb.StripeConnector({ credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });
  const model = new MockLanguageModelV2({
    doGenerate: [callTool('stripe_customers_list', { limit: 1000 }), answer('The limit was too high.')],
  });
  const result = await generateText({ model, tools: tools(st), stopWhen: stepCountIs(3), prompt: 'List every customer.' });
  assert.equal(result.text, 'The limit was too high.');
  assert.equal(toolResult(model).error.code, 'validation');
  assert.deepEqual(await fake.requests('stripe'), []);
});

// A real MCP client for the Go end-to-end tests: the official TypeScript SDK
// over streamable HTTP. Usage: node sdk-client.mjs <mcp url> <json steps>
// where steps is a list of
//   {"tool": name, "arguments": {...}}  call a tool; an argument "$last" is
//                                       replaced by the previous result's
//                                       structuredContent.executionId
//   {"list": true}                      list the tools
//   {"elicit": "accept"|"decline"|"cancel"}
//                                       answer the server's elicitation
//                                       requests so from now on (the client
//                                       declares the capability either way;
//                                       unanswered, a request is declined)
// Every result is printed as one JSON line; every elicitation request as a
// line {"elicited": message}. With MCP_BEARER set, every request carries
// "Authorization: Bearer $MCP_BEARER".
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const [url, stepsJSON] = process.argv.slice(2);
const steps = JSON.parse(stepsJSON);
const client = new Client({ name: "executor-e2e", version: "1.0.0" }, { capabilities: { elicitation: {} } });
let answer = "decline";
client.setRequestHandler(ElicitRequestSchema, async (req) => {
  console.log(JSON.stringify({ elicited: req.params.message }));
  return answer === "accept" ? { action: "accept", content: {} } : { action: answer };
});
const bearer = process.env.MCP_BEARER;
const transport = new StreamableHTTPClientTransport(new URL(url),
  bearer ? { requestInit: { headers: { Authorization: `Bearer ${bearer}` } } } : undefined);
let lastExecution = null;
try {
  await client.connect(transport);
  console.log(JSON.stringify({ server: client.getServerVersion(), protocol: transport.protocolVersion ?? null }));
  for (const step of steps) {
    if (step.list) {
      const { tools } = await client.listTools();
      console.log(JSON.stringify({ tools: tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema })) }));
      continue;
    }
    if (step.elicit) {
      answer = step.elicit;
      continue;
    }
    const args = Object.fromEntries(Object.entries(step.arguments ?? {}).map(([k, v]) => [k, v === "$last" ? lastExecution : v]));
    // A resume in browser mode waits for a person's decision.
    const result = await client.callTool({ name: step.tool, arguments: args }, undefined, { timeout: 120000 });
    lastExecution = result.structuredContent?.executionId ?? lastExecution;
    console.log(JSON.stringify(result));
  }
  await client.close();
} catch (err) {
  console.log(JSON.stringify({ clientError: String(err && err.message || err) }));
  process.exitCode = 1;
}

// A real MCP client for the Go end-to-end tests: the official TypeScript SDK
// over streamable HTTP. Usage: node sdk-client.mjs <mcp url> <json steps>
// where steps is a list of {"tool": name, "arguments": {...}} or
// {"list": true}; every result is printed as one JSON line.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, stepsJSON] = process.argv.slice(2);
const steps = JSON.parse(stepsJSON);
const client = new Client({ name: "executor-e2e", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url));
try {
  await client.connect(transport);
  console.log(JSON.stringify({ server: client.getServerVersion(), protocol: transport.protocolVersion ?? null }));
  for (const step of steps) {
    if (step.list) {
      const { tools } = await client.listTools();
      console.log(JSON.stringify({ tools: tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema })) }));
      continue;
    }
    const result = await client.callTool({ name: step.tool, arguments: step.arguments });
    console.log(JSON.stringify(result));
  }
  await client.close();
} catch (err) {
  console.log(JSON.stringify({ clientError: String(err && err.message || err) }));
  process.exitCode = 1;
}

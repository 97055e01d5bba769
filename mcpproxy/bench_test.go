package mcpproxy

import (
	"testing"
)

// BenchmarkExecute measures execute round trips over HTTP in process:
// `return 1+1`, and a script making one tool call (the test kind's echo,
// which answers at once), so their difference is the cost a tool call adds.
func BenchmarkExecute(b *testing.B) {
	tg := newTestGateway(b, Config{})
	tg.connect(b, "bench", OwnerOrg, "", "main", tool("echo", "Echo", `"text":{"type":"string"}`))
	c := tg.client(b, "alice")
	c.initialize()
	for _, bc := range []struct{ name, code string }{
		{"return1plus1", "return 1+1"},
		{"oneToolCall", `return await tools.bench.org.main.echo({ text: "hi" })`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if r := c.execute(bc.code); r.IsError {
					b.Fatal(r.text())
				}
			}
		})
	}
}

/**
 * The publish ceiling: a bare Hono POST handler that parses the same JSON body as `POST /push`
 * and answers with the same acknowledgement, with no validation, auth or fan-out.
 */
import { Hono } from "hono";

interface PushBody {
  data: { channel: string };
}

const hostname = Deno.env.get("HOST") ?? "127.0.0.1";
const port = Number(Deno.env.get("PORT_WS") ?? "0");
const app = new Hono();
app.post("/push", async (c) => {
  const body = await c.req.json<PushBody>();
  return c.json({
    messageType: "SERVER_ACK",
    code: 200,
    message: "Sent",
    data: { channel: body.data.channel, channelToken: null },
  });
});

Deno.serve({
  hostname,
  port,
  onListen: ({ port }) => {
    const msg = `baseline listening ws=${hostname}:${port} http=${hostname}:${port}`;
    Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify({ msg }) + "\n"));
  },
}, app.fetch);

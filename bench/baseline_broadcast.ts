/**
 * The ceiling: the smallest Deno.serve program that accepts WebSockets and broadcasts each
 * POSTed body to all of them. One port serves both. It sends `{}` once a socket is open (and
 * registered), so clients know from when on they receive broadcasts.
 */
const hostname = Deno.env.get("HOST") ?? "127.0.0.1";
const port = Number(Deno.env.get("PORT_WS") ?? "0");
const sockets = new Set<WebSocket>();

Deno.serve({
  hostname,
  port,
  onListen: ({ port }) => {
    const msg = `baseline listening ws=${hostname}:${port} http=${hostname}:${port}`;
    Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify({ msg }) + "\n"));
  },
}, async (request) => {
  if (request.headers.get("upgrade") === "websocket") {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => {
      sockets.add(socket);
      socket.send("{}");
    };
    socket.onclose = () => sockets.delete(socket);
    return response;
  }
  const body = await request.text();
  for (const socket of sockets) if (socket.readyState === WebSocket.OPEN) socket.send(body);
  return new Response("{}");
});

import { connect, createServer, type Socket } from "node:net"

export type ProxyMode = "forward" | "refuse" | "blackhole" | "freeze"

/**
 * A TCP proxy on a free loopback port in front of a real server, to make it look down and up again without
 * touching the server:
 * - "refuse" closes new connections at once (and cuts the open ones);
 * - "blackhole" cuts the open connections, then accepts new ones and never answers;
 * - "freeze" is a server stopped with SIGSTOP: open connections stay open but nothing passes either way, new ones
 *   are accepted and hang; back to "forward", everything held is delivered in order (as after SIGCONT);
 * - "forward" passes traffic through, after `setLatency` milliseconds if set.
 */
export const startFaultProxy = async (target: { readonly host: string; readonly port: number }) => {
  let mode: ProxyMode = "forward"
  let latencyMs = 0
  const open = new Set<Socket>()
  // Chunks held while frozen, per destination socket, delivered in order when the proxy forwards again.
  const held = new Map<Socket, Array<Buffer>>()
  const track = (socket: Socket) => {
    open.add(socket)
    socket.on("close", () => {
      open.delete(socket)
      held.delete(socket)
    })
    socket.on("error", () => socket.destroy())
  }
  const server = createServer((client) => {
    track(client)
    if (mode === "refuse") return client.destroy()
    if (mode === "blackhole") return client.resume()
    const upstream = connect(target.port, target.host)
    track(upstream)
    // Each chunk is passed on after the current latency (0: at once), in order; held while frozen.
    const relay = (from: Socket, to: Socket) =>
      from.on("data", (chunk: Buffer) => {
        const queue = held.get(to)
        if (mode === "freeze" || queue !== undefined) {
          if (queue === undefined) held.set(to, [chunk])
          else queue.push(chunk)
        } else if (latencyMs === 0) to.write(chunk)
        else setTimeout(() => to.writable && to.write(chunk), latencyMs)
      })
    relay(client, upstream)
    relay(upstream, client)
    client.on("close", () => upstream.destroy())
    upstream.on("close", () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    port,
    /** Delay every chunk, each way, by this many milliseconds (a slow network or a slow server). */
    setLatency: (ms: number) => {
      latencyMs = ms
    },
    setMode: (next: ProxyMode) => {
      mode = next
      if (next === "refuse" || next === "blackhole") for (const socket of open) socket.destroy()
      if (next === "forward") {
        for (const [socket, chunks] of held) if (socket.writable) for (const chunk of chunks) socket.write(chunk)
        held.clear()
      }
    },
    /** Connections currently open through the proxy (client side and server side each count). */
    openSockets: () => open.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy()
        server.close(() => resolve())
      })
  }
}
export type FaultProxy = Awaited<ReturnType<typeof startFaultProxy>>

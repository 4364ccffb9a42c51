import { connect, createServer, type Socket } from "node:net"

export type ProxyMode = "forward" | "refuse" | "blackhole"

/**
 * A TCP proxy on a free loopback port in front of a real server, to make it look down and up again without
 * touching the server: "refuse" closes new connections at once (and cuts the open ones), "blackhole" accepts and
 * never answers (a frozen server), "forward" passes traffic through.
 */
export const startFaultProxy = async (target: { readonly host: string; readonly port: number }) => {
  let mode: ProxyMode = "forward"
  const open = new Set<Socket>()
  const track = (socket: Socket) => {
    open.add(socket)
    socket.on("close", () => open.delete(socket))
    socket.on("error", () => socket.destroy())
  }
  const server = createServer((client) => {
    track(client)
    if (mode === "refuse") return client.destroy()
    if (mode === "blackhole") return client.resume()
    const upstream = connect(target.port, target.host)
    track(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    client.on("close", () => upstream.destroy())
    upstream.on("close", () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    port,
    setMode: (next: ProxyMode) => {
      mode = next
      if (next !== "forward") for (const socket of open) socket.destroy()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy()
        server.close(() => resolve())
      })
  }
}
export type FaultProxy = Awaited<ReturnType<typeof startFaultProxy>>

import { Option } from "effect"
import { hostPort, parseListenAddress } from "../src/adapters/config/Settings.js"
import { readSettings } from "../src/main/Settings.js"

/**
 * Where the example clients (npm run hello, npm run example:client) find the service: GRPC_SERVER_URL and
 * HTTP_SERVER_URL read as the server reads them (the environment over `.env`, Go's host:port) with the server's
 * defaults (:5000 and :4000), so a client run beside the server with the same settings reaches it.
 * A listen address on every interface (":5000", "0.0.0.0:5000", "[::]:5000") is dialled on localhost.
 */
export const serviceAddresses = (
  env: NodeJS.ProcessEnv = process.env,
  dotEnvPath: string | undefined = ".env"
): { readonly grpc: string; readonly http: string } => {
  const settings = readSettings(env, dotEnvPath)
  const dial = (name: string, defaultPort: number) => {
    const text = settings.get(name)
    if (text === undefined) return hostPort("localhost", defaultPort)
    const address = parseListenAddress(text)
    if (Option.isNone(address))
      throw new Error(`${name}=${text}: expected host:port such as ":5000" or "127.0.0.1:5000"`)
    const { host, port } = address.value
    // Port 0 lets the server pick one when it starts: only its "listening" log line says which.
    if (port === 0) throw new Error(`${name}=${text}: port 0 is picked by the server at start; give the port it logged`)
    return hostPort(host === "" || host === "0.0.0.0" || host === "::" ? "localhost" : host, port)
  }
  return { grpc: dial("GRPC_SERVER_URL", 5000), http: `http://${dial("HTTP_SERVER_URL", 4000)}` }
}

/** serviceAddresses for a script: an invalid setting ends it with the reason (exit code 2), not a stack trace. */
export const serviceAddressesOrExit = (): { readonly grpc: string; readonly http: string } => {
  try {
    return serviceAddresses()
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    return process.exit(2)
  }
}

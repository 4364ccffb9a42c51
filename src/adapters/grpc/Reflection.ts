import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Server } from "@grpc/grpc-js"
import { loadSync } from "@grpc/proto-loader"
import { ReflectionService } from "@grpc/reflection"

export const PROTO_FILES = [
  "hello_world/hello_world.proto",
  "users/v1/users.proto",
  "grpc/health/v1/health.proto"
] as const

/** The repository's proto/ folder, found from this module whether it runs from src/ or from dist/. */
export const findProtoDirectory = (from: string = dirname(fileURLToPath(import.meta.url))): string => {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, "proto")
    if (existsSync(join(candidate, PROTO_FILES[0]))) return candidate
    if (dirname(dir) === dir) throw new Error(`proto/ not found above ${from}`)
  }
}

/** Server reflection (v1 and v1alpha), so `grpcurl -plaintext localhost:5000 list` works without -proto. */
export const addReflection = (server: Server): void => {
  // keepCase: the descriptors carry the proto files' own field names (user_id, page_size), as grpcurl and buf curl
  // expect in JSON; without it proto-loader renames them to camelCase.
  const definitions = loadSync([...PROTO_FILES], { includeDirs: [findProtoDirectory()], keepCase: true })
  new ReflectionService(definitions).addToServer(server)
}

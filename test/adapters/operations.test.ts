import { describe, expect, it } from "@effect/vitest"
import { OPERATIONS } from "../../src/adapters/edge/Operations.js"
import { GreeterService } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { UserServiceService } from "../../src/adapters/grpc/generated/users/v1/users.js"
import { restOperationOf } from "../../src/adapters/http/RestApi.js"
import { ServiceRpcs } from "../../src/adapters/rpc/RpcServer.js"

describe("the policy table (adapters/edge/Operations.ts)", () => {
  it("has a row for every gRPC method, every /rpc call and every REST route", () => {
    const grpc = [...Object.values(GreeterService), ...Object.values(UserServiceService)].map(
      (method) => method.path.split("/")[2] ?? ""
    )
    const rpc = [...ServiceRpcs.requests.keys()]
    for (const name of [...grpc, ...rpc]) expect(Object.keys(OPERATIONS), name).toContain(name)
    expect(restOperationOf("GET", "/v1/users/7")).toBe("GetUser")
    expect(restOperationOf("GET", "/v1/users?page_size=2")).toBe("ListUsers")
    expect(restOperationOf("POST", "/v1/users")).toBe("CreateUser")
    expect(restOperationOf("PATCH", "/v1/users/7")).toBe("UpdateUser")
    expect(restOperationOf("DELETE", "/v1/users/7")).toBe("DeleteUser")
    // No route: no row (the call still needs a valid token, then gets 404 or 405).
    expect(restOperationOf("POST", "/v1/users/7")).toBeUndefined()
    expect(restOperationOf("GET", "/v1/other")).toBeUndefined()
  })

  it("names as writes exactly the calls that change data", () => {
    const writes = Object.entries(OPERATIONS).filter(([, policy]) => policy.writes)
    expect(writes.map(([name]) => name).sort()).toEqual(["CreateUser", "DeleteUser", "UpdateUser"])
  })
})

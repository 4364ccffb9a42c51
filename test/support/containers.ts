/**
 * Starts a container when a container engine answers. The engine check fails in milliseconds when there is none,
 * so trying costs nothing on machines without Docker. The reason it could not, otherwise.
 */
export const tryContainer = async <A>(
  start: () => Promise<A>
): Promise<{ readonly started: A } | { readonly problem: string }> => {
  try {
    const { getContainerRuntimeClient } = await import("testcontainers")
    await getContainerRuntimeClient()
    return { started: await start() }
  } catch (error) {
    return { problem: `testcontainers: ${error instanceof Error ? error.message : String(error)}` }
  }
}

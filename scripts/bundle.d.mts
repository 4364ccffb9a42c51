/** The bundle of src/main.ts for the current sources (built when missing). Resolves to its path. */
export declare const bundleService: () => Promise<string>

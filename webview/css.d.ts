/** esbuild loads .css as text (scripts/build.ts: loader '.css': 'text'). */
declare module '*.css' {
  const text: string;
  export default text;
}

/** Tailwind scans the templ sources (and our script) for the classes they use. */
/** @type {import('tailwindcss').Config} */
module.exports = {
  content: ["./views/**/*.templ", "./sandbox/**/*.templ", "./static/app.js"],
  theme: {
    extend: {
      fontFamily: {
        sans: ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
      },
    },
  },
  plugins: [],
};

/** Tailwind scans every file that holds class strings: the templ sources, the
 * Go view models that choose classes (views/*.go), and our script. */
/** @type {import('tailwindcss').Config} */
module.exports = {
  content: ["./views/**/*.templ", "./views/**/*.go", "./sandbox/**/*.templ", "./static/app.js"],
  theme: {
    extend: {
      fontFamily: {
        sans: ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
      },
    },
  },
  plugins: [],
};

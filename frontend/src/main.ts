// Entry point: global styles and the <kpi-app> shell (which loads each page's module when first shown).
import "./global.css";
import "./app";

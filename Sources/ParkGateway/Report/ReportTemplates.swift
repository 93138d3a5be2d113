import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// The report's Mustache templates. `{{ }}` escapes HTML, so names from the wire render as
/// text; the page needs nothing from the network (styles inline, charts inline SVG).
package enum ReportTemplates {
    package static let chart = """
        <svg class="chart" viewBox="0 0 {{width}} {{height}}" width="{{width}}" height="{{height}}" role="img">
        {{#ticks}}<line class="grid" x1="{{left}}" x2="{{right}}" y1="{{y}}" y2="{{y}}"/><text class="tick" x="{{left}}" dx="-4" y="{{y}}" dy="3" text-anchor="end">{{label}}</text>{{/ticks}}
        {{#bars}}<rect class="{{class}}" x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}"><title>{{title}}</title></rect>{{/bars}}
        {{#limits}}<line class="limit" x1="{{x1}}" x2="{{x2}}" y1="{{y}}" y2="{{y}}"/>{{/limits}}
        {{#dayLimit}}<line class="daylimit" x1="{{left}}" x2="{{right}}" y1="{{y}}" y2="{{y}}"/><text class="tick" x="{{right}}" y="{{y}}" dy="-3" text-anchor="end">daily limit {{label}}</text>{{/dayLimit}}
        {{#hours}}<text class="tick" x="{{x}}" y="{{labelY}}" text-anchor="middle">{{label}}</text>{{/hours}}
        </svg>
        """

    package static let report = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
        <title>Daily compliance report: {{park}}, {{day}}</title>
        <style>
        body { font-family: "DejaVu Sans", sans-serif; font-size: 11px; color: #1a1a1a; margin: 24px; }
        h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 22px 0 6px; border-bottom: 1px solid #999; }
        h3 { font-size: 12px; margin: 12px 0 2px; }
        table { border-collapse: collapse; margin: 4px 0 8px; } td, th { border: 1px solid #bbb; padding: 2px 6px; text-align: left; }
        th { background: #eee; } .nowrap { white-space: nowrap; } td.num { text-align: right; } .bad { color: #b00020; font-weight: bold; }
        .meta { color: #555; } .chart { display: block; margin: 2px 0 10px; }
        .chart .ok { fill: #4a7fb5; } .chart .exceeded { fill: #d0312d; } .chart .invalid { fill: #bbb; }
        .chart .limit { stroke: #111; stroke-width: 2; } .chart .daylimit { stroke: #111; stroke-dasharray: 5 3; stroke-width: 1.5; }
        .chart .grid { stroke: #ddd; } .chart .tick { font-size: 9px; fill: #555; }
        section { page-break-inside: avoid; }
        </style>
        </head>
        <body>
        <h1>Daily compliance report: {{park}}</h1>
        <p class="meta">{{day}} (local time UTC{{offset}}) · generated {{generated}} by parkd from {{source}}</p>

        <h2>Summary</h2>
        <table>
        <tr><th>regulated stations</th><td class="num">{{stations}}</td><th>exceeding hours</th><td class="num {{#exceedingHours}}bad{{/exceedingHours}}">{{exceedingHours}}</td><th>exceeding days</th><td class="num {{#exceedingDays}}bad{{/exceedingDays}}">{{exceedingDays}}</td><th>alerts</th><td class="num">{{alertCount}}</td><th>sensors missing</th><td class="num">{{missingCount}}</td></tr>
        </table>

        <h2>Regulatory parameters</h2>
        {{^parameters}}<p>No regulatory record for this park on this day.</p>{{/parameters}}
        {{#parameters}}
        <section>
        <h3>{{kind}} at {{zone}}/{{sensor}}</h3>
        <table>
        <tr><th>rule</th><th>reference</th><th>averaging</th><th>limit</th><th>periods</th><th>valid</th><th>invalid (silent)</th><th>exceeded</th><th>data capture</th><th>value</th></tr>
        {{#rules}}<tr><td class="nowrap">{{rule}}</td><td class="nowrap">{{reference}}</td><td>{{period}}</td><td class="num">{{limit}}</td><td class="num">{{periods}}</td><td class="num">{{valid}}</td><td class="num">{{invalid}} ({{silent}})</td><td class="num {{#exceeded}}bad{{/exceeded}}">{{exceeded}}</td><td class="num">{{capture}}</td><td class="num">{{value}}</td></tr>{{/rules}}
        </table>
        {{#chart}}{{> chart}}{{/chart}}
        </section>
        {{/parameters}}

        <h2>Energy</h2>
        {{#energy}}
        <table>
        <tr><th>consumption</th><td class="num">{{consumption}} kWh</td><th>grid import</th><td class="num">{{gridImport}}</td><th>export</th><td class="num">{{gridExport}}</td><th>PV</th><td class="num">{{pv}}</td><th>renewable share</th><td class="num">{{share}}</td></tr>
        <tr><th>peak demand (15 min)</th><td class="num">{{peak}} kW{{#estimated}} (estimated){{/estimated}}</td>{{#tariff}}<th>{{period}}</th><td class="num">{{kwh}} kWh</td>{{/tariff}}</tr>
        </table>
        {{#shareMissing}}<p>Renewable share not computed: {{shareMissing}}.</p>{{/shareMissing}}
        {{#estimated}}<p>Estimated peak: a grid meter read less often than every 15 minutes, its energy spread evenly.</p>{{/estimated}}
        {{#schedules}}<p>Tariff periods by schedule {{id}} ({{source}}), {{#confirmed}}confirmed{{/confirmed}}{{^confirmed}}not confirmed{{/confirmed}}.</p>{{/schedules}}
        {{/energy}}
        {{^energy}}<p>No energy figures for this day.</p>{{/energy}}

        <h2>Green area</h2>
        {{#green}}<table><tr><th>green area</th><td class="num">{{area}} m²</td><th>coverage</th><td class="num">{{coverage}}</td><th>target</th><td class="num">{{target}}</td><th>met</th><td class="{{^met}}bad{{/met}}">{{metText}}</td></tr></table>{{/green}}
        {{^green}}<p>No green-area figures for this day.</p>{{/green}}

        <h2>Alerts of the day</h2>
        {{^alerts}}<p>None.</p>{{/alerts}}
        {{#hasAlerts}}<table><tr><th>time</th><th>state</th><th>severity</th><th>rule</th><th>message</th></tr>{{/hasAlerts}}
        {{#alerts}}<tr><td>{{time}}</td><td>{{state}}</td><td>{{severity}}</td><td class="nowrap">{{rule}}</td><td>{{message}}</td></tr>{{/alerts}}
        {{#hasAlerts}}</table>{{/hasAlerts}}

        <h2>Sensors missing</h2>
        {{^missing}}<p>None: every sensor the store knows in this park reported.</p>{{/missing}}
        {{#hasMissing}}<table><tr><th>sensor</th></tr>{{/hasMissing}}
        {{#missing}}<tr><td>{{.}}</td></tr>{{/missing}}
        {{#hasMissing}}</table>{{/hasMissing}}
        </body>
        </html>
        """
}

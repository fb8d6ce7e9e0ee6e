
use builtin;
use str;

set edit:completion:arg-completer[hsm] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'hsm'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'hsm'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand login 'Log in through the browser and keep the tokens in the OS keychain'
            cand logout 'Remove the stored credentials of this environment and profile'
            cand status 'List every stored session: environment, profile, store, expiry, whether it refreshes'
            cand token 'Inspect, refresh or print the access token'
            cand contacts 'Create, update, search, bulk-import and sync contacts'
            cand completions 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
            cand sandbox 'Run a local emulator of the Partner API v2 for trying hsm and testing scripts'
            cand api 'Call any API endpoint with the session (like `gh api`); the answer''s body on stdout'
            cand webhooks 'Receive HealthSherpa''s submission webhooks (like `stripe listen`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hsm;login'= {
            cand --client-id 'OAuth client id (overrides the config file and HSM_CLIENT_ID)'
            cand --redirect-uri 'Redirect URI registered for the client (a loopback http:// URL)'
            cand --scope 'OAuth scope to request'
            cand --timeout 'Seconds to wait for the browser to come back'
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --client-secret-stdin 'Read the client secret from the first line of stdin and keep it in the credential store'
            cand --no-browser 'Do not open a browser: print the URL and accept the pasted redirect URL on stdin'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;logout'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;status'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --json 'Print the result as JSON'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;token'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand show 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)'
            cand refresh 'Refresh the access token now and store the rotated refresh token'
            cand print 'Print the access token (refreshed if needed) to stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hsm;token;show'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --json 'Print the result as JSON'
            cand --check 'Check the session with the server (one read-only API call; refreshes first if needed); without it, "valid" means only "not expired" by the stored expiry'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;token;refresh'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --json 'Print the result as JSON'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;token;print'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;token;help'= {
            cand show 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)'
            cand refresh 'Refresh the access token now and store the rotated refresh token'
            cand print 'Print the access token (refreshed if needed) to stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hsm;token;help;show'= {
        }
        &'hsm;token;help;refresh'= {
        }
        &'hsm;token;help;print'= {
        }
        &'hsm;token;help;help'= {
        }
        &'hsm;contacts'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Create a contact (POST /v2/contacts); prints its id'
            cand update 'Update some fields of a contact (PATCH /v2/contacts/ID)'
            cand search 'Find a contact by Medicare number, or by name plus birth date, email or phone'
            cand import 'Create contacts from a CSV or JSON Lines file, resumably'
            cand sync 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hsm;contacts;create'= {
            cand --external-id 'Your system''s unique ID for the contact (cannot change once set)'
            cand --first-name 'First name'
            cand --last-name 'Last name'
            cand --address-1 'Primary address line'
            cand --address-2 'Secondary address line'
            cand --birth-date 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD'
            cand --city 'City'
            cand --state 'Two-letter state code, e.g. CA (upper-cased before sending)'
            cand --zip 'ZIP code, 5 digits (a ZIP+4 such as 94103-1234 is sent as 94103)'
            cand --phone 'Phone number, 10 digits (816-555-0166, (816) 555-0166 and +1 816 555 0166 are sent as 8165550166)'
            cand --sex 'Sex: male, female, M, F, m or f'
            cand --email 'Email address'
            cand --medicare-number 'Medicare number'
            cand --medicare-part-a-effective-date 'Medicare Part A effective date (same formats as the birth date)'
            cand --medicare-part-b-effective-date 'Medicare Part B effective date (same formats as the birth date)'
            cand --medicaid-number 'Medicaid number'
            cand --extra-help 'Receives Extra Help: true or false'
            cand --medicaid-eligible 'Eligible for Medicaid: true or false'
            cand --data 'Contact JSON: inline, @FILE for a file (@, as in curl, because --data also takes inline JSON), or - for stdin; flags override its fields'
            cand --wait 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)'
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --json 'Print the whole API response as JSON'
            cand --allow-duplicate 'Create it even though the ledger says this external id was created already'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;contacts;update'= {
            cand --external-id 'Your system''s unique ID for the contact (cannot change once set)'
            cand --first-name 'First name'
            cand --last-name 'Last name'
            cand --address-1 'Primary address line'
            cand --address-2 'Secondary address line'
            cand --birth-date 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD'
            cand --city 'City'
            cand --state 'Two-letter state code, e.g. CA (upper-cased before sending)'
            cand --zip 'ZIP code, 5 digits (a ZIP+4 such as 94103-1234 is sent as 94103)'
            cand --phone 'Phone number, 10 digits (816-555-0166, (816) 555-0166 and +1 816 555 0166 are sent as 8165550166)'
            cand --sex 'Sex: male, female, M, F, m or f'
            cand --email 'Email address'
            cand --medicare-number 'Medicare number'
            cand --medicare-part-a-effective-date 'Medicare Part A effective date (same formats as the birth date)'
            cand --medicare-part-b-effective-date 'Medicare Part B effective date (same formats as the birth date)'
            cand --medicaid-number 'Medicaid number'
            cand --extra-help 'Receives Extra Help: true or false'
            cand --medicaid-eligible 'Eligible for Medicaid: true or false'
            cand --data 'Contact JSON: inline, @FILE for a file (@, as in curl, because --data also takes inline JSON), or - for stdin; flags override its fields'
            cand --wait 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)'
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --json 'Print the whole API response as JSON'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;contacts;search'= {
            cand --medicare-number 'Medicare number (searches by it alone)'
            cand --first-name 'First name (with --birth-date, --email or --phone)'
            cand --last-name 'Last name (with --birth-date, --email or --phone)'
            cand --birth-date 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD'
            cand --email 'Email address'
            cand --phone 'Phone number, 10 digits (punctuation and a leading +1 are dropped)'
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --json 'Print the whole API response as JSON'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;contacts;import'= {
            cand --concurrency 'Most requests in flight at once; hsm adapts between 1 and this to the server''s pace'
            cand --rate 'Send at most N requests per second (your quota); without it, hsm learns the pace from the server''s 429 answers'
            cand --report 'The report: one JSON line per row of this run; default FILE.report.jsonl'
            cand --format 'Input format when it cannot be told from the file name'
            cand --wait 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)'
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --dry-run 'Validate every row and say what a run would do (create, skip, look up), sending nothing'
            cand --resend-unknown 'Send again the rows whose earlier outcome is unknown when a search answered and found nothing (a failed search never lets a row go out again)'
            cand --json 'Print the summary as JSON on stdout'
            cand --show-report 'Send nothing: list the last outcome of every row in the report (--report, else FILE.report.jsonl) as a table, or JSON lines with --json'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;contacts;sync'= {
            cand --concurrency 'Most requests in flight at once; hsm adapts between 1 and this to the server''s pace'
            cand --rate 'Send at most N requests per second (your quota); without it, hsm learns the pace from the server''s 429 answers'
            cand --format 'Input format when it cannot be told from the file name'
            cand --wait 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)'
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand --dry-run 'Print the plan (to create, to update with which fields, to look up, missing) and send nothing; the real run does exactly this'
            cand --json 'Print the summary (or, with --dry-run, the plan) as JSON on stdout'
            cand --skip-invalid 'Send the valid rows and list the invalid ones (default: one invalid row refuses the run)'
            cand --resend-unknown 'Send again the rows whose earlier request has an unknown outcome when a search answered and found nothing (a failed search never lets a row go out again)'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;contacts;help'= {
            cand create 'Create a contact (POST /v2/contacts); prints its id'
            cand update 'Update some fields of a contact (PATCH /v2/contacts/ID)'
            cand search 'Find a contact by Medicare number, or by name plus birth date, email or phone'
            cand import 'Create contacts from a CSV or JSON Lines file, resumably'
            cand sync 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hsm;contacts;help;create'= {
        }
        &'hsm;contacts;help;update'= {
        }
        &'hsm;contacts;help;search'= {
        }
        &'hsm;contacts;help;import'= {
        }
        &'hsm;contacts;help;sync'= {
        }
        &'hsm;contacts;help;help'= {
        }
        &'hsm;completions'= {
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;sandbox'= {
            cand --port 'Port to listen on at 127.0.0.1 (0 picks a free one)'
            cand --access-ttl 'Lifetime of issued access tokens, in seconds'
            cand --latency-ms 'Delay every API response by this many milliseconds (a realistic network latency)'
            cand --rate-limit 'Answer 429 with Retry-After beyond N requests per second over /v2 (a token bucket of N, refilled at N per second), to try a client''s pacing against a rate-limited API'
            cand --fault 'Inject faults (repeatable): ENDPOINT:KIND[=ARG][xCOUNT]. ENDPOINT: authorize, token, create, update, search, api (all of /v2), any. KIND: NNN[=SECS], htmlNNN, 429[=SECS], html, malformed, delay=MS, lost=MS, commit-then-NNN, commit-then-lost. E.g. `token:500`, `create:429=2x3`, `api:delay=2000`, `create:lost=5000`, `create:commit-then-502`'
            cand --webhook-url 'Deliver submission webhooks to this http:// URL (e.g. `hsm webhooks listen`''s); queue one with POST /__sandbox/webhooks/submission'
            cand --webhook-api-key 'The X-API-Key the deliveries carry (default: HSM_WEBHOOK_API_KEY; prefer the variable, as other users can read a command line)'
            cand --webhook-retry-scale 'Multiply the retry schedule of failed deliveries (20 s, 10 min, 1 h) by F, e.g. 0.01'
            cand --auto-approve 'Approve every authorization request without showing the consent page'
            cand --webhook-on-create 'Also send a submission event for every contact created, a second after its creation'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;api'= {
            cand -X 'HTTP method (default GET, or POST when -f or --input gives a body)'
            cand --method 'HTTP method (default GET, or POST when -f or --input gives a body)'
            cand --input 'The body from FILE as is, or - for stdin (gh api''s --input: a file name without @; inline bodies are built with -f)'
            cand -f 'A string field of the JSON body, KEY=VALUE; nested keys as contact[first_name]=John, arrays as key[]=value (repeatable; with GET, query parameters instead)'
            cand --raw-field 'A string field of the JSON body, KEY=VALUE; nested keys as contact[first_name]=John, arrays as key[]=value (repeatable; with GET, query parameters instead)'
            cand -H 'A request header, ''Name: value'' (repeatable)'
            cand --header 'A request header, ''Name: value'' (repeatable)'
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand -i 'Print the status line and the response headers before the body'
            cand --include 'Print the status line and the response headers before the body'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;webhooks'= {
            cand --env 'Environment to use: production, staging, sandbox, or one defined in the config file'
            cand --profile 'Credential profile within the environment'
            cand --config 'Config file to read instead of the platform default'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand listen 'Receive submission events: check the API key, keep or hand on each event once, answer'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hsm;webhooks;listen'= {
            cand --bind 'Address to listen on; another than 127.0.0.1 only behind a TLS reverse proxy'
            cand --port 'Port to listen on (0 picks a free one)'
            cand --path 'The path HealthSherpa posts to; other paths get 404'
            cand --output 'Append each new event to this JSON Lines file (fsync''d, created 0600); it is also the record of events already received, read at start so redeliveries are not kept twice'
            cand --exec 'Run CMD for each new event, the event on its stdin (`sh -c CMD`; `cmd /C` on Windows); exit 0 acknowledges it, anything else (or --timeout) answers 500 so it is sent again'
            cand --forward-to 'POST each new event to URL (https, or http on loopback); a 2xx acknowledges it'
            cand --timeout 'Seconds --exec and --forward-to may take per event'
            cand --json 'One JSON line per event on stdout (no personal data), for scripts'
            cand -v 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand --verbose 'Trace each HTTP exchange on stderr, with secrets redacted'
            cand -q 'Print only results and errors'
            cand --quiet 'Print only results and errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'hsm;webhooks;help'= {
            cand listen 'Receive submission events: check the API key, keep or hand on each event once, answer'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hsm;webhooks;help;listen'= {
        }
        &'hsm;webhooks;help;help'= {
        }
        &'hsm;help'= {
            cand login 'Log in through the browser and keep the tokens in the OS keychain'
            cand logout 'Remove the stored credentials of this environment and profile'
            cand status 'List every stored session: environment, profile, store, expiry, whether it refreshes'
            cand token 'Inspect, refresh or print the access token'
            cand contacts 'Create, update, search, bulk-import and sync contacts'
            cand completions 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
            cand sandbox 'Run a local emulator of the Partner API v2 for trying hsm and testing scripts'
            cand api 'Call any API endpoint with the session (like `gh api`); the answer''s body on stdout'
            cand webhooks 'Receive HealthSherpa''s submission webhooks (like `stripe listen`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'hsm;help;login'= {
        }
        &'hsm;help;logout'= {
        }
        &'hsm;help;status'= {
        }
        &'hsm;help;token'= {
            cand show 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)'
            cand refresh 'Refresh the access token now and store the rotated refresh token'
            cand print 'Print the access token (refreshed if needed) to stdout'
        }
        &'hsm;help;token;show'= {
        }
        &'hsm;help;token;refresh'= {
        }
        &'hsm;help;token;print'= {
        }
        &'hsm;help;contacts'= {
            cand create 'Create a contact (POST /v2/contacts); prints its id'
            cand update 'Update some fields of a contact (PATCH /v2/contacts/ID)'
            cand search 'Find a contact by Medicare number, or by name plus birth date, email or phone'
            cand import 'Create contacts from a CSV or JSON Lines file, resumably'
            cand sync 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only'
        }
        &'hsm;help;contacts;create'= {
        }
        &'hsm;help;contacts;update'= {
        }
        &'hsm;help;contacts;search'= {
        }
        &'hsm;help;contacts;import'= {
        }
        &'hsm;help;contacts;sync'= {
        }
        &'hsm;help;completions'= {
        }
        &'hsm;help;sandbox'= {
        }
        &'hsm;help;api'= {
        }
        &'hsm;help;webhooks'= {
            cand listen 'Receive submission events: check the API key, keep or hand on each event once, answer'
        }
        &'hsm;help;webhooks;listen'= {
        }
        &'hsm;help;help'= {
        }
    ]
    $completions[$command]
}

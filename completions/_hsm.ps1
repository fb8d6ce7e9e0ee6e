
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'hsm' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'hsm'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'hsm' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in through the browser and keep the tokens in the OS keychain')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Remove the stored credentials of this environment and profile')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'List every stored session: environment, profile, store, expiry, whether it refreshes')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Inspect, refresh or print the access token')
            [CompletionResult]::new('contacts', 'contacts', [CompletionResultType]::ParameterValue, 'Create, update, search, bulk-import and sync contacts')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, powershell, elvish)')
            [CompletionResult]::new('sandbox', 'sandbox', [CompletionResultType]::ParameterValue, 'Run a local emulator of the Partner API v2 for trying hsm and testing scripts')
            [CompletionResult]::new('api', 'api', [CompletionResultType]::ParameterValue, 'Call any API endpoint with the session (like `gh api`); the answer''s body on stdout')
            [CompletionResult]::new('webhooks', 'webhooks', [CompletionResultType]::ParameterValue, 'Receive HealthSherpa''s submission webhooks (like `stripe listen`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hsm;login' {
            [CompletionResult]::new('--client-id', '--client-id', [CompletionResultType]::ParameterName, 'OAuth client id (overrides the config file and HSM_CLIENT_ID)')
            [CompletionResult]::new('--redirect-uri', '--redirect-uri', [CompletionResultType]::ParameterName, 'Redirect URI registered for the client (a loopback http:// URL)')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'OAuth scope to request')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the browser to come back')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--client-secret-stdin', '--client-secret-stdin', [CompletionResultType]::ParameterName, 'Read the client secret from the first line of stdin and keep it in the credential store')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Do not open a browser: print the URL and accept the pasted redirect URL on stdin')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;logout' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;status' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;token' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)')
            [CompletionResult]::new('refresh', 'refresh', [CompletionResultType]::ParameterValue, 'Refresh the access token now and store the rotated refresh token')
            [CompletionResult]::new('print', 'print', [CompletionResultType]::ParameterValue, 'Print the access token (refreshed if needed) to stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hsm;token;show' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Check the session with the server (one read-only API call; refreshes first if needed); without it, "valid" means only "not expired" by the stored expiry')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;token;refresh' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;token;print' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;token;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)')
            [CompletionResult]::new('refresh', 'refresh', [CompletionResultType]::ParameterValue, 'Refresh the access token now and store the rotated refresh token')
            [CompletionResult]::new('print', 'print', [CompletionResultType]::ParameterValue, 'Print the access token (refreshed if needed) to stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hsm;token;help;show' {
            break
        }
        'hsm;token;help;refresh' {
            break
        }
        'hsm;token;help;print' {
            break
        }
        'hsm;token;help;help' {
            break
        }
        'hsm;contacts' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a contact (POST /v2/contacts); prints its id')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Update some fields of a contact (PATCH /v2/contacts/ID)')
            [CompletionResult]::new('search', 'search', [CompletionResultType]::ParameterValue, 'Find a contact by Medicare number, or by name plus birth date, email or phone')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Create contacts from a CSV or JSON Lines file, resumably')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hsm;contacts;create' {
            [CompletionResult]::new('--external-id', '--external-id', [CompletionResultType]::ParameterName, 'Your system''s unique ID for the contact (cannot change once set)')
            [CompletionResult]::new('--first-name', '--first-name', [CompletionResultType]::ParameterName, 'First name')
            [CompletionResult]::new('--last-name', '--last-name', [CompletionResultType]::ParameterName, 'Last name')
            [CompletionResult]::new('--address-1', '--address-1', [CompletionResultType]::ParameterName, 'Primary address line')
            [CompletionResult]::new('--address-2', '--address-2', [CompletionResultType]::ParameterName, 'Secondary address line')
            [CompletionResult]::new('--birth-date', '--birth-date', [CompletionResultType]::ParameterName, 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD')
            [CompletionResult]::new('--city', '--city', [CompletionResultType]::ParameterName, 'City')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Two-letter state code, e.g. CA (upper-cased before sending)')
            [CompletionResult]::new('--zip', '--zip', [CompletionResultType]::ParameterName, 'ZIP code, 5 digits (a ZIP+4 such as 94103-1234 is sent as 94103)')
            [CompletionResult]::new('--phone', '--phone', [CompletionResultType]::ParameterName, 'Phone number, 10 digits (816-555-0166, (816) 555-0166 and +1 816 555 0166 are sent as 8165550166)')
            [CompletionResult]::new('--sex', '--sex', [CompletionResultType]::ParameterName, 'Sex: male, female, M, F, m or f')
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'Email address')
            [CompletionResult]::new('--medicare-number', '--medicare-number', [CompletionResultType]::ParameterName, 'Medicare number')
            [CompletionResult]::new('--medicare-part-a-effective-date', '--medicare-part-a-effective-date', [CompletionResultType]::ParameterName, 'Medicare Part A effective date (same formats as the birth date)')
            [CompletionResult]::new('--medicare-part-b-effective-date', '--medicare-part-b-effective-date', [CompletionResultType]::ParameterName, 'Medicare Part B effective date (same formats as the birth date)')
            [CompletionResult]::new('--medicaid-number', '--medicaid-number', [CompletionResultType]::ParameterName, 'Medicaid number')
            [CompletionResult]::new('--extra-help', '--extra-help', [CompletionResultType]::ParameterName, 'Receives Extra Help: true or false')
            [CompletionResult]::new('--medicaid-eligible', '--medicaid-eligible', [CompletionResultType]::ParameterName, 'Eligible for Medicaid: true or false')
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Contact JSON: inline, @FILE for a file (@, as in curl, because --data also takes inline JSON), or - for stdin; flags override its fields')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the whole API response as JSON')
            [CompletionResult]::new('--allow-duplicate', '--allow-duplicate', [CompletionResultType]::ParameterName, 'Create it even though the ledger says this external id was created already')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;contacts;update' {
            [CompletionResult]::new('--external-id', '--external-id', [CompletionResultType]::ParameterName, 'Your system''s unique ID for the contact (cannot change once set)')
            [CompletionResult]::new('--first-name', '--first-name', [CompletionResultType]::ParameterName, 'First name')
            [CompletionResult]::new('--last-name', '--last-name', [CompletionResultType]::ParameterName, 'Last name')
            [CompletionResult]::new('--address-1', '--address-1', [CompletionResultType]::ParameterName, 'Primary address line')
            [CompletionResult]::new('--address-2', '--address-2', [CompletionResultType]::ParameterName, 'Secondary address line')
            [CompletionResult]::new('--birth-date', '--birth-date', [CompletionResultType]::ParameterName, 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD')
            [CompletionResult]::new('--city', '--city', [CompletionResultType]::ParameterName, 'City')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Two-letter state code, e.g. CA (upper-cased before sending)')
            [CompletionResult]::new('--zip', '--zip', [CompletionResultType]::ParameterName, 'ZIP code, 5 digits (a ZIP+4 such as 94103-1234 is sent as 94103)')
            [CompletionResult]::new('--phone', '--phone', [CompletionResultType]::ParameterName, 'Phone number, 10 digits (816-555-0166, (816) 555-0166 and +1 816 555 0166 are sent as 8165550166)')
            [CompletionResult]::new('--sex', '--sex', [CompletionResultType]::ParameterName, 'Sex: male, female, M, F, m or f')
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'Email address')
            [CompletionResult]::new('--medicare-number', '--medicare-number', [CompletionResultType]::ParameterName, 'Medicare number')
            [CompletionResult]::new('--medicare-part-a-effective-date', '--medicare-part-a-effective-date', [CompletionResultType]::ParameterName, 'Medicare Part A effective date (same formats as the birth date)')
            [CompletionResult]::new('--medicare-part-b-effective-date', '--medicare-part-b-effective-date', [CompletionResultType]::ParameterName, 'Medicare Part B effective date (same formats as the birth date)')
            [CompletionResult]::new('--medicaid-number', '--medicaid-number', [CompletionResultType]::ParameterName, 'Medicaid number')
            [CompletionResult]::new('--extra-help', '--extra-help', [CompletionResultType]::ParameterName, 'Receives Extra Help: true or false')
            [CompletionResult]::new('--medicaid-eligible', '--medicaid-eligible', [CompletionResultType]::ParameterName, 'Eligible for Medicaid: true or false')
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Contact JSON: inline, @FILE for a file (@, as in curl, because --data also takes inline JSON), or - for stdin; flags override its fields')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the whole API response as JSON')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;contacts;search' {
            [CompletionResult]::new('--medicare-number', '--medicare-number', [CompletionResultType]::ParameterName, 'Medicare number (searches by it alone)')
            [CompletionResult]::new('--first-name', '--first-name', [CompletionResultType]::ParameterName, 'First name (with --birth-date, --email or --phone)')
            [CompletionResult]::new('--last-name', '--last-name', [CompletionResultType]::ParameterName, 'Last name (with --birth-date, --email or --phone)')
            [CompletionResult]::new('--birth-date', '--birth-date', [CompletionResultType]::ParameterName, 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD')
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'Email address')
            [CompletionResult]::new('--phone', '--phone', [CompletionResultType]::ParameterName, 'Phone number, 10 digits (punctuation and a leading +1 are dropped)')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the whole API response as JSON')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;contacts;import' {
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Most requests in flight at once; hsm adapts between 1 and this to the server''s pace')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Send at most N requests per second (your quota); without it, hsm learns the pace from the server''s 429 answers')
            [CompletionResult]::new('--report', '--report', [CompletionResultType]::ParameterName, 'The report: one JSON line per row of this run; default FILE.report.jsonl')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Input format when it cannot be told from the file name')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Validate every row and say what a run would do (create, skip, look up), sending nothing')
            [CompletionResult]::new('--resend-unknown', '--resend-unknown', [CompletionResultType]::ParameterName, 'Send again the rows whose earlier outcome is unknown when a search answered and found nothing (a failed search never lets a row go out again)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the summary as JSON on stdout')
            [CompletionResult]::new('--show-report', '--show-report', [CompletionResultType]::ParameterName, 'Send nothing: list the last outcome of every row in the report (--report, else FILE.report.jsonl) as a table, or JSON lines with --json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;contacts;sync' {
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Most requests in flight at once; hsm adapts between 1 and this to the server''s pace')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Send at most N requests per second (your quota); without it, hsm learns the pace from the server''s 429 answers')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Input format when it cannot be told from the file name')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan (to create, to update with which fields, to look up, missing) and send nothing; the real run does exactly this')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the summary (or, with --dry-run, the plan) as JSON on stdout')
            [CompletionResult]::new('--skip-invalid', '--skip-invalid', [CompletionResultType]::ParameterName, 'Send the valid rows and list the invalid ones (default: one invalid row refuses the run)')
            [CompletionResult]::new('--resend-unknown', '--resend-unknown', [CompletionResultType]::ParameterName, 'Send again the rows whose earlier request has an unknown outcome when a search answered and found nothing (a failed search never lets a row go out again)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;contacts;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a contact (POST /v2/contacts); prints its id')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Update some fields of a contact (PATCH /v2/contacts/ID)')
            [CompletionResult]::new('search', 'search', [CompletionResultType]::ParameterValue, 'Find a contact by Medicare number, or by name plus birth date, email or phone')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Create contacts from a CSV or JSON Lines file, resumably')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hsm;contacts;help;create' {
            break
        }
        'hsm;contacts;help;update' {
            break
        }
        'hsm;contacts;help;search' {
            break
        }
        'hsm;contacts;help;import' {
            break
        }
        'hsm;contacts;help;sync' {
            break
        }
        'hsm;contacts;help;help' {
            break
        }
        'hsm;completions' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;sandbox' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on at 127.0.0.1 (0 picks a free one)')
            [CompletionResult]::new('--access-ttl', '--access-ttl', [CompletionResultType]::ParameterName, 'Lifetime of issued access tokens, in seconds')
            [CompletionResult]::new('--latency-ms', '--latency-ms', [CompletionResultType]::ParameterName, 'Delay every API response by this many milliseconds (a realistic network latency)')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Answer 429 with Retry-After beyond N requests per second over /v2 (a token bucket of N, refilled at N per second), to try a client''s pacing against a rate-limited API')
            [CompletionResult]::new('--fault', '--fault', [CompletionResultType]::ParameterName, 'Inject faults (repeatable): ENDPOINT:KIND[=ARG][xCOUNT]. ENDPOINT: authorize, token, create, update, search, api (all of /v2), any. KIND: NNN[=SECS], htmlNNN, 429[=SECS], html, malformed, delay=MS, lost=MS, commit-then-NNN, commit-then-lost. E.g. `token:500`, `create:429=2x3`, `api:delay=2000`, `create:lost=5000`, `create:commit-then-502`')
            [CompletionResult]::new('--webhook-url', '--webhook-url', [CompletionResultType]::ParameterName, 'Deliver submission webhooks to this http:// URL (e.g. `hsm webhooks listen`''s); queue one with POST /__sandbox/webhooks/submission')
            [CompletionResult]::new('--webhook-api-key', '--webhook-api-key', [CompletionResultType]::ParameterName, 'The X-API-Key the deliveries carry (default: HSM_WEBHOOK_API_KEY; prefer the variable, as other users can read a command line)')
            [CompletionResult]::new('--webhook-retry-scale', '--webhook-retry-scale', [CompletionResultType]::ParameterName, 'Multiply the retry schedule of failed deliveries (20 s, 10 min, 1 h) by F, e.g. 0.01')
            [CompletionResult]::new('--auto-approve', '--auto-approve', [CompletionResultType]::ParameterName, 'Approve every authorization request without showing the consent page')
            [CompletionResult]::new('--webhook-on-create', '--webhook-on-create', [CompletionResultType]::ParameterName, 'Also send a submission event for every contact created, a second after its creation')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;api' {
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'HTTP method (default GET, or POST when -f or --input gives a body)')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'HTTP method (default GET, or POST when -f or --input gives a body)')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'The body from FILE as is, or - for stdin (gh api''s --input: a file name without @; inline bodies are built with -f)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'A string field of the JSON body, KEY=VALUE; nested keys as contact[first_name]=John, arrays as key[]=value (repeatable; with GET, query parameters instead)')
            [CompletionResult]::new('--raw-field', '--raw-field', [CompletionResultType]::ParameterName, 'A string field of the JSON body, KEY=VALUE; nested keys as contact[first_name]=John, arrays as key[]=value (repeatable; with GET, query parameters instead)')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'A request header, ''Name: value'' (repeatable)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'A request header, ''Name: value'' (repeatable)')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Print the status line and the response headers before the body')
            [CompletionResult]::new('--include', '--include', [CompletionResultType]::ParameterName, 'Print the status line and the response headers before the body')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;webhooks' {
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Environment to use: production, staging, sandbox, or one defined in the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Credential profile within the environment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read instead of the platform default')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Receive submission events: check the API key, keep or hand on each event once, answer')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hsm;webhooks;listen' {
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'Address to listen on; another than 127.0.0.1 only behind a TLS reverse proxy')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (0 picks a free one)')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'The path HealthSherpa posts to; other paths get 404')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Append each new event to this JSON Lines file (fsync''d, created 0600); it is also the record of events already received, read at start so redeliveries are not kept twice')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run CMD for each new event, the event on its stdin (`sh -c CMD`; `cmd /C` on Windows); exit 0 acknowledges it, anything else (or --timeout) answers 500 so it is sent again')
            [CompletionResult]::new('--forward-to', '--forward-to', [CompletionResultType]::ParameterName, 'POST each new event to URL (https, or http on loopback); a 2xx acknowledges it')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds --exec and --forward-to may take per event')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON line per event on stdout (no personal data), for scripts')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace each HTTP exchange on stderr, with secrets redacted')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'hsm;webhooks;help' {
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Receive submission events: check the API key, keep or hand on each event once, answer')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hsm;webhooks;help;listen' {
            break
        }
        'hsm;webhooks;help;help' {
            break
        }
        'hsm;help' {
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in through the browser and keep the tokens in the OS keychain')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Remove the stored credentials of this environment and profile')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'List every stored session: environment, profile, store, expiry, whether it refreshes')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Inspect, refresh or print the access token')
            [CompletionResult]::new('contacts', 'contacts', [CompletionResultType]::ParameterValue, 'Create, update, search, bulk-import and sync contacts')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, powershell, elvish)')
            [CompletionResult]::new('sandbox', 'sandbox', [CompletionResultType]::ParameterValue, 'Run a local emulator of the Partner API v2 for trying hsm and testing scripts')
            [CompletionResult]::new('api', 'api', [CompletionResultType]::ParameterValue, 'Call any API endpoint with the session (like `gh api`); the answer''s body on stdout')
            [CompletionResult]::new('webhooks', 'webhooks', [CompletionResultType]::ParameterValue, 'Receive HealthSherpa''s submission webhooks (like `stripe listen`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'hsm;help;login' {
            break
        }
        'hsm;help;logout' {
            break
        }
        'hsm;help;status' {
            break
        }
        'hsm;help;token' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)')
            [CompletionResult]::new('refresh', 'refresh', [CompletionResultType]::ParameterValue, 'Refresh the access token now and store the rotated refresh token')
            [CompletionResult]::new('print', 'print', [CompletionResultType]::ParameterValue, 'Print the access token (refreshed if needed) to stdout')
            break
        }
        'hsm;help;token;show' {
            break
        }
        'hsm;help;token;refresh' {
            break
        }
        'hsm;help;token;print' {
            break
        }
        'hsm;help;contacts' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a contact (POST /v2/contacts); prints its id')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Update some fields of a contact (PATCH /v2/contacts/ID)')
            [CompletionResult]::new('search', 'search', [CompletionResultType]::ParameterValue, 'Find a contact by Medicare number, or by name plus birth date, email or phone')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Create contacts from a CSV or JSON Lines file, resumably')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only')
            break
        }
        'hsm;help;contacts;create' {
            break
        }
        'hsm;help;contacts;update' {
            break
        }
        'hsm;help;contacts;search' {
            break
        }
        'hsm;help;contacts;import' {
            break
        }
        'hsm;help;contacts;sync' {
            break
        }
        'hsm;help;completions' {
            break
        }
        'hsm;help;sandbox' {
            break
        }
        'hsm;help;api' {
            break
        }
        'hsm;help;webhooks' {
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Receive submission events: check the API key, keep or hand on each event once, answer')
            break
        }
        'hsm;help;webhooks;listen' {
            break
        }
        'hsm;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}

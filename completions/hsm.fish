# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_hsm_global_optspecs
    string join \n env= profile= config= v/verbose q/quiet h/help V/version
end

function __fish_hsm_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_hsm_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_hsm_using_subcommand
    set -l cmd (__fish_hsm_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c hsm -n "__fish_hsm_needs_command" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_needs_command" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_needs_command" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_needs_command" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_needs_command" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_needs_command" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "login" -d 'Log in through the browser and keep the tokens in the OS keychain'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "logout" -d 'Remove the stored credentials of this environment and profile'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "status" -d 'List every stored session: environment, profile, store, expiry, whether it refreshes'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "token" -d 'Inspect, refresh or print the access token'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "contacts" -d 'Create, update, search, bulk-import and sync contacts'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "sandbox" -d 'Run a local emulator of the Partner API v2 for trying hsm and testing scripts'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "api" -d 'Call any API endpoint with the session (like `gh api`); the answer\'s body on stdout'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "webhooks" -d 'Receive HealthSherpa\'s submission webhooks (like `stripe listen`)'
complete -c hsm -n "__fish_hsm_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hsm -n "__fish_hsm_using_subcommand login" -l client-id -d 'OAuth client id (overrides the config file and HSM_CLIENT_ID)' -r
complete -c hsm -n "__fish_hsm_using_subcommand login" -l redirect-uri -d 'Redirect URI registered for the client (a loopback http:// URL)' -r
complete -c hsm -n "__fish_hsm_using_subcommand login" -l scope -d 'OAuth scope to request' -r
complete -c hsm -n "__fish_hsm_using_subcommand login" -l timeout -d 'Seconds to wait for the browser to come back' -r
complete -c hsm -n "__fish_hsm_using_subcommand login" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand login" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand login" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand login" -l client-secret-stdin -d 'Read the client secret from the first line of stdin and keep it in the credential store'
complete -c hsm -n "__fish_hsm_using_subcommand login" -l no-browser -d 'Do not open a browser: print the URL and accept the pasted redirect URL on stdin'
complete -c hsm -n "__fish_hsm_using_subcommand login" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand login" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand login" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand logout" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand logout" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand logout" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand logout" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand logout" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand logout" -s h -l help -d 'Print help'
complete -c hsm -n "__fish_hsm_using_subcommand logout" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand status" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand status" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand status" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand status" -l json -d 'Print the result as JSON'
complete -c hsm -n "__fish_hsm_using_subcommand status" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand status" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand status" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -s h -l help -d 'Print help'
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -f -a "show" -d 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)'
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -f -a "refresh" -d 'Refresh the access token now and store the rotated refresh token'
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -f -a "print" -d 'Print the access token (refreshed if needed) to stdout'
complete -c hsm -n "__fish_hsm_using_subcommand token; and not __fish_seen_subcommand_from show refresh print help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -l json -d 'Print the result as JSON'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -l check -d 'Check the session with the server (one read-only API call; refreshes first if needed); without it, "valid" means only "not expired" by the stored expiry'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from refresh" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from refresh" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from refresh" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from refresh" -l json -d 'Print the result as JSON'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from refresh" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from refresh" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from refresh" -s h -l help -d 'Print help'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from refresh" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from print" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from print" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from print" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from print" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from print" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from print" -s h -l help -d 'Print help'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from print" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "refresh" -d 'Refresh the access token now and store the rotated refresh token'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "print" -d 'Print the access token (refreshed if needed) to stdout'
complete -c hsm -n "__fish_hsm_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -s h -l help -d 'Print help'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -f -a "create" -d 'Create a contact (POST /v2/contacts); prints its id'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -f -a "update" -d 'Update some fields of a contact (PATCH /v2/contacts/ID)'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -f -a "search" -d 'Find a contact by Medicare number, or by name plus birth date, email or phone'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -f -a "import" -d 'Create contacts from a CSV or JSON Lines file, resumably'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -f -a "sync" -d 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and not __fish_seen_subcommand_from create update search import sync help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l external-id -d 'Your system\'s unique ID for the contact (cannot change once set)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l first-name -d 'First name' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l last-name -d 'Last name' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l address-1 -d 'Primary address line' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l address-2 -d 'Secondary address line' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l birth-date -d 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l city -d 'City' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l state -d 'Two-letter state code, e.g. CA (upper-cased before sending)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l zip -d 'ZIP code, 5 digits (a ZIP+4 such as 94103-1234 is sent as 94103)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l phone -d 'Phone number, 10 digits (816-555-0166, (816) 555-0166 and +1 816 555 0166 are sent as 8165550166)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l sex -d 'Sex: male, female, M, F, m or f' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l email -d 'Email address' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l medicare-number -d 'Medicare number' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l medicare-part-a-effective-date -d 'Medicare Part A effective date (same formats as the birth date)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l medicare-part-b-effective-date -d 'Medicare Part B effective date (same formats as the birth date)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l medicaid-number -d 'Medicaid number' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l extra-help -d 'Receives Extra Help: true or false' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l medicaid-eligible -d 'Eligible for Medicaid: true or false' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l data -d 'Contact JSON: inline, @FILE for a file (@, as in curl, because --data also takes inline JSON), or - for stdin; flags override its fields' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l wait -d 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l json -d 'Print the whole API response as JSON'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -l allow-duplicate -d 'Create it even though the ledger says this external id was created already'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l external-id -d 'Your system\'s unique ID for the contact (cannot change once set)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l first-name -d 'First name' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l last-name -d 'Last name' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l address-1 -d 'Primary address line' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l address-2 -d 'Secondary address line' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l birth-date -d 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l city -d 'City' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l state -d 'Two-letter state code, e.g. CA (upper-cased before sending)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l zip -d 'ZIP code, 5 digits (a ZIP+4 such as 94103-1234 is sent as 94103)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l phone -d 'Phone number, 10 digits (816-555-0166, (816) 555-0166 and +1 816 555 0166 are sent as 8165550166)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l sex -d 'Sex: male, female, M, F, m or f' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l email -d 'Email address' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l medicare-number -d 'Medicare number' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l medicare-part-a-effective-date -d 'Medicare Part A effective date (same formats as the birth date)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l medicare-part-b-effective-date -d 'Medicare Part B effective date (same formats as the birth date)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l medicaid-number -d 'Medicaid number' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l extra-help -d 'Receives Extra Help: true or false' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l medicaid-eligible -d 'Eligible for Medicaid: true or false' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l data -d 'Contact JSON: inline, @FILE for a file (@, as in curl, because --data also takes inline JSON), or - for stdin; flags override its fields' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l wait -d 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -l json -d 'Print the whole API response as JSON'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l medicare-number -d 'Medicare number (searches by it alone)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l first-name -d 'First name (with --birth-date, --email or --phone)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l last-name -d 'Last name (with --birth-date, --email or --phone)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l birth-date -d 'Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l email -d 'Email address' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l phone -d 'Phone number, 10 digits (punctuation and a leading +1 are dropped)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -l json -d 'Print the whole API response as JSON'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -s h -l help -d 'Print help'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from search" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l concurrency -d 'Most requests in flight at once; hsm adapts between 1 and this to the server\'s pace' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l rate -d 'Send at most N requests per second (your quota); without it, hsm learns the pace from the server\'s 429 answers' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l report -d 'The report: one JSON line per row of this run; default FILE.report.jsonl' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l format -d 'Input format when it cannot be told from the file name' -r -f -a "csv\t''
jsonl\t''"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l wait -d 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l dry-run -d 'Validate every row and say what a run would do (create, skip, look up), sending nothing'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l resend-unknown -d 'Send again the rows whose earlier outcome is unknown when a search answered and found nothing (a failed search never lets a row go out again)'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l json -d 'Print the summary as JSON on stdout'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -l show-report -d 'Send nothing: list the last outcome of every row in the report (--report, else FILE.report.jsonl) as a table, or JSON lines with --json'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from import" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l concurrency -d 'Most requests in flight at once; hsm adapts between 1 and this to the server\'s pace' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l rate -d 'Send at most N requests per second (your quota); without it, hsm learns the pace from the server\'s 429 answers' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l format -d 'Input format when it cannot be told from the file name' -r -f -a "csv\t''
jsonl\t''"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l wait -d 'When another hsm is writing to the same server and login, wait up to SECS for it, then exit 2 naming it (default: 10 for one contact, 0 for import and sync)' -r
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l dry-run -d 'Print the plan (to create, to update with which fields, to look up, missing) and send nothing; the real run does exactly this'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l json -d 'Print the summary (or, with --dry-run, the plan) as JSON on stdout'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l skip-invalid -d 'Send the valid rows and list the invalid ones (default: one invalid row refuses the run)'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -l resend-unknown -d 'Send again the rows whose earlier request has an unknown outcome when a search answered and found nothing (a failed search never lets a row go out again)'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from sync" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a contact (POST /v2/contacts); prints its id'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from help" -f -a "update" -d 'Update some fields of a contact (PATCH /v2/contacts/ID)'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from help" -f -a "search" -d 'Find a contact by Medicare number, or by name plus birth date, email or phone'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from help" -f -a "import" -d 'Create contacts from a CSV or JSON Lines file, resumably'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from help" -f -a "sync" -d 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only'
complete -c hsm -n "__fish_hsm_using_subcommand contacts; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hsm -n "__fish_hsm_using_subcommand completions" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand completions" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand completions" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l port -d 'Port to listen on at 127.0.0.1 (0 picks a free one)' -r
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l access-ttl -d 'Lifetime of issued access tokens, in seconds' -r
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l latency-ms -d 'Delay every API response by this many milliseconds (a realistic network latency)' -r
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l rate-limit -d 'Answer 429 with Retry-After beyond N requests per second over /v2 (a token bucket of N, refilled at N per second), to try a client\'s pacing against a rate-limited API' -r
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l fault -d 'Inject faults (repeatable): ENDPOINT:KIND[=ARG][xCOUNT]. ENDPOINT: authorize, token, create, update, search, api (all of /v2), any. KIND: NNN[=SECS], htmlNNN, 429[=SECS], html, malformed, delay=MS, lost=MS, commit-then-NNN, commit-then-lost. E.g. `token:500`, `create:429=2x3`, `api:delay=2000`, `create:lost=5000`, `create:commit-then-502`' -r
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l webhook-url -d 'Deliver submission webhooks to this http:// URL (e.g. `hsm webhooks listen`\'s); queue one with POST /__sandbox/webhooks/submission' -r
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l webhook-api-key -d 'The X-API-Key the deliveries carry (default: HSM_WEBHOOK_API_KEY; prefer the variable, as other users can read a command line)' -r
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l webhook-retry-scale -d 'Multiply the retry schedule of failed deliveries (20 s, 10 min, 1 h) by F, e.g. 0.01' -r
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l auto-approve -d 'Approve every authorization request without showing the consent page'
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -l webhook-on-create -d 'Also send a submission event for every contact created, a second after its creation'
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand sandbox" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand api" -s X -l method -d 'HTTP method (default GET, or POST when -f or --input gives a body)' -r
complete -c hsm -n "__fish_hsm_using_subcommand api" -l input -d 'The body from FILE as is, or - for stdin (gh api\'s --input: a file name without @; inline bodies are built with -f)' -r
complete -c hsm -n "__fish_hsm_using_subcommand api" -s f -l raw-field -d 'A string field of the JSON body, KEY=VALUE; nested keys as contact[first_name]=John, arrays as key[]=value (repeatable; with GET, query parameters instead)' -r
complete -c hsm -n "__fish_hsm_using_subcommand api" -s H -l header -d 'A request header, \'Name: value\' (repeatable)' -r
complete -c hsm -n "__fish_hsm_using_subcommand api" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand api" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand api" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand api" -s i -l include -d 'Print the status line and the response headers before the body'
complete -c hsm -n "__fish_hsm_using_subcommand api" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand api" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand api" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand api" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -l env -d 'Environment to use: production, staging, sandbox, or one defined in the config file' -r -f -a "(hsm __complete env 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -l profile -d 'Credential profile within the environment' -r -f -a "(hsm __complete profile 2>/dev/null)"
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -l config -d 'Config file to read instead of the platform default' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -s h -l help -d 'Print help'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -f -a "listen" -d 'Receive submission events: check the API key, keep or hand on each event once, answer'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and not __fish_seen_subcommand_from listen help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -l bind -d 'Address to listen on; another than 127.0.0.1 only behind a TLS reverse proxy' -r
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -l port -d 'Port to listen on (0 picks a free one)' -r
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -l path -d 'The path HealthSherpa posts to; other paths get 404' -r
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -l output -d 'Append each new event to this JSON Lines file (fsync\'d, created 0600); it is also the record of events already received, read at start so redeliveries are not kept twice' -r -F
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -l exec -d 'Run CMD for each new event, the event on its stdin (`sh -c CMD`; `cmd /C` on Windows); exit 0 acknowledges it, anything else (or --timeout) answers 500 so it is sent again' -r
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -l forward-to -d 'POST each new event to URL (https, or http on loopback); a 2xx acknowledges it' -r
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -l timeout -d 'Seconds --exec and --forward-to may take per event' -r
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -l json -d 'One JSON line per event on stdout (no personal data), for scripts'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -s v -l verbose -d 'Trace each HTTP exchange on stderr, with secrets redacted'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -s q -l quiet -d 'Print only results and errors'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from listen" -s V -l version -d 'Print version'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from help" -f -a "listen" -d 'Receive submission events: check the API key, keep or hand on each event once, answer'
complete -c hsm -n "__fish_hsm_using_subcommand webhooks; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "login" -d 'Log in through the browser and keep the tokens in the OS keychain'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "logout" -d 'Remove the stored credentials of this environment and profile'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "status" -d 'List every stored session: environment, profile, store, expiry, whether it refreshes'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "token" -d 'Inspect, refresh or print the access token'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "contacts" -d 'Create, update, search, bulk-import and sync contacts'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, powershell, elvish)'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "sandbox" -d 'Run a local emulator of the Partner API v2 for trying hsm and testing scripts'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "api" -d 'Call any API endpoint with the session (like `gh api`); the answer\'s body on stdout'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "webhooks" -d 'Receive HealthSherpa\'s submission webhooks (like `stripe listen`)'
complete -c hsm -n "__fish_hsm_using_subcommand help; and not __fish_seen_subcommand_from login logout status token contacts completions sandbox api webhooks help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "show" -d 'Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "refresh" -d 'Refresh the access token now and store the rotated refresh token'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "print" -d 'Print the access token (refreshed if needed) to stdout'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from contacts" -f -a "create" -d 'Create a contact (POST /v2/contacts); prints its id'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from contacts" -f -a "update" -d 'Update some fields of a contact (PATCH /v2/contacts/ID)'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from contacts" -f -a "search" -d 'Find a contact by Medicare number, or by name plus birth date, email or phone'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from contacts" -f -a "import" -d 'Create contacts from a CSV or JSON Lines file, resumably'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from contacts" -f -a "sync" -d 'Keep contacts in step with a CRM export: create new rows, PATCH changed fields only'
complete -c hsm -n "__fish_hsm_using_subcommand help; and __fish_seen_subcommand_from webhooks" -f -a "listen" -d 'Receive submission events: check the API key, keep or hand on each event once, answer'

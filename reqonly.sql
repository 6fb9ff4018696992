SELECT audit_request_key('01a25163-3834-7374-8834-a3cd18016f8e');
